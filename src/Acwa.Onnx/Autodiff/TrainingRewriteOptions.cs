using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Autodiff;

/// <summary>Choices for <see cref="TrainingRewrite"/>.</summary>
internal sealed record TrainingRewriteOptions
{
    /// <summary>
    /// When true (default, PyTorch parity), running_var is updated with the unbiased batch variance var * M / (M - 1),
    /// M = elements per channel (N H W); when false, with the biased variance used for normalisation (ONNX reference).
    /// </summary>
    public bool UnbiasedRunningVariance { get; init; } = true;

    /// <summary>Where training-mode Dropout gets its mask; default <see cref="DropoutMaskSource.HostInput"/> (bit-identical resume).</summary>
    public DropoutMaskSource DropoutMasks { get; init; } = DropoutMaskSource.HostInput;

    /// <summary>BatchNormalization nodes (by first output) left in inference mode: running statistics as constants, no update.</summary>
    public IReadOnlySet<string> InferenceBatchNorms { get; init; } = new HashSet<string>();

    /// <summary>The opset of the model being rewritten (ReduceMean takes its axes as an input from opset 18, as an attribute before).</summary>
    public int Opset { get; init; } = OnnxModel.DefaultOpset;
}
