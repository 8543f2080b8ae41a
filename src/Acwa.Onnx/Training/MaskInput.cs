namespace Acwa.Onnx.Training;

/// <summary>A bool keep-mask input of the training graph (one per Dropout node), generated on the host each step.</summary>
/// <param name="Name">Graph input name.</param>
/// <param name="Shape">Dimensions; -1 is the batch dimension.</param>
/// <param name="Ratio">Drop probability: each element is true (kept) with probability 1 - ratio.</param>
public sealed record MaskInput(string Name, long[] Shape, double Ratio);
