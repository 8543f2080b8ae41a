namespace Acwa.Onnx.Training.Compiler;

/// <summary>
/// One node found by <see cref="DevicePlacementCheck.FindHostShapeArithmetic"/>: it reads a host-resident value
/// (the int64 output of <c>Shape</c> or <c>Size</c>, or a value computed from one on the host) through an input that
/// the CUDA kernel expects in device memory.
/// </summary>
/// <param name="NodeIndex">Index of the node in the graph's node list.</param>
/// <param name="NodeName">The node's name (its first output's name when it has none).</param>
/// <param name="OpType">The node's op type.</param>
/// <param name="InputIndex">The first input slot that reads a host value.</param>
/// <param name="InputName">The value read at <paramref name="InputIndex"/>.</param>
/// <param name="PlacedOnCpu">True when ONNX Runtime's CPU-preferred-nodes heuristic assigns the node to the CPU EP (all its
/// other inputs are host values, small initializers or graph inputs): with CPU fallback disabled the session then fails
/// to load. False when the node stays on the device and the host value is only copied over (a silent host round trip).</param>
internal sealed record HostShapeFinding(int NodeIndex, string NodeName, string OpType, int InputIndex, string InputName, bool PlacedOnCpu)
{
    /// <summary>E.g. <c>node 'Div_12' (Div) reads host shape value 'Cast_11_out' at input 1 (placed on the CPU EP)</c>.</summary>
    public override string ToString() =>
        $"node '{NodeName}' ({OpType}) reads host shape value '{InputName}' at input {InputIndex}" +
        (PlacedOnCpu ? " (placed on the CPU EP)" : " (copied from the host)");
}
