namespace Acwa.Onnx.Autodiff;

/// <summary>A Dropout mask graph input added by <see cref="TrainingRewrite"/> (<see cref="DropoutMaskSource.HostInput"/>).</summary>
/// <param name="Name">The bool graph input's name.</param>
/// <param name="Dims">Its shape; a negative dim -k is k times the batch size (-1: the batch dimension). A Dropout whose
/// batch-dependent dims are not multiples of the batch gets an in-graph mask instead.</param>
/// <param name="Ratio">The drop probability: each element should be true (kept) with probability 1 - ratio.</param>
internal sealed record DropoutMaskInput(string Name, long[] Dims, double Ratio);
