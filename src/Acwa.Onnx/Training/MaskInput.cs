namespace Acwa.Onnx.Training;

/// <summary>A bool keep-mask input of the training graph (one per Dropout node), generated on the host each step.</summary>
/// <param name="Name">Graph input name.</param>
/// <param name="Shape">Dimensions; a negative one, -k, is k times the batch size (-1: the batch dimension; -64: Swin's
/// batch x windows rows).</param>
/// <param name="Ratio">Drop probability: each element is true (kept) with probability 1 - ratio.</param>
public sealed record MaskInput(string Name, long[] Shape, double Ratio)
{
    /// <summary>The mask's dimensions for a batch of <paramref name="batchSize"/>.</summary>
    public long[] ShapeFor(int batchSize) => Shape.Select(d => d < 0 ? -d * batchSize : d).ToArray();
}
