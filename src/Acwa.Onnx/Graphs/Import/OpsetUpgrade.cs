using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Graphs.Import;

/// <summary>
/// Upgrades models of default-domain opset 13 to 17 (e.g. exported by PyTorch 1.13, which stops at 17) to opset 18,
/// the opset Acwa.Onnx builds and trains. The rewrites, for every default-domain node including those in
/// subgraphs:
/// <list type="bullet">
/// <item>ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp,
/// ReduceSumSquare (18: axes became an input): an <c>axes</c> attribute becomes an int64 initializer passed as
/// input 1. Without the attribute the node reduces over all axes in both versions and is left as is.</item>
/// <item>Split (18: needs the <c>split</c> input or a <c>num_outputs</c> attribute): without a split input,
/// <c>num_outputs</c> is set to the node's number of outputs (an equal split in both versions).</item>
/// <item>RoiAlign from opset 10-15 (16 added <c>coordinate_transformation_mode</c>, default "half_pixel"): without
/// the attribute it is set to "output_half_pixel", the old behaviour.</item>
/// <item>BatchNormalization from opset 13 (version 9) with the training outputs (more than one output) is rejected:
/// version 14 changed those outputs' meaning.</item>
/// </list>
/// Every other change from 13 to 18 only added optional inputs or attributes whose defaults keep the old
/// behaviour (Pad axes, Resize antialias / axes / keep_aspect_ratio_policy, ScatterElements and ScatterND
/// reductions, LpPool ceil_mode, Reshape allowzero, Shape start / end, RNN layouts, Optional* on tensors) or added
/// new operators (CenterCropPad, Col2Im, Bitwise*, GroupNormalization, LayerNormalization, ...), so those nodes are
/// kept unchanged. Other domains (ai.onnx.ml, com.microsoft) are not touched. The IR version is raised to at
/// least 8.
/// </summary>
internal static class OpsetUpgrade
{
    /// <summary>The opset models are upgraded to.</summary>
    public const int TargetOpset = 18;

    /// <summary>The oldest default-domain opset accepted.</summary>
    public const int MinimumOpset = 13;

    private static readonly HashSet<string> ReducesWithAxesInput = new(StringComparer.Ordinal)
    {
        "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
    };

    /// <summary>The default-domain opset version a model imports.</summary>
    /// <exception cref="InvalidDataException">The model imports no default-domain opset.</exception>
    public static long DefaultOpset(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var o in model.OpsetImport)
            if (o.Domain is "" or "ai.onnx") return o.Version;
        throw new InvalidDataException($"model (graph '{model.Graph?.Name}') imports no default-domain ONNX opset");
    }

    /// <summary>
    /// Returns an opset-18 copy of <paramref name="model"/> (a plain copy when it already is opset 18); the input is
    /// not modified.
    /// </summary>
    /// <exception cref="NotSupportedException">The default-domain opset is below 13 or above 18, or a node cannot
    /// be upgraded; the message names the version or the node.</exception>
    /// <exception cref="InvalidDataException">The model has no graph or no default-domain opset.</exception>
    public static ModelProto ToOpset18(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Graph is null) throw new InvalidDataException("model has no graph");
        long from = DefaultOpset(model);
        if (from < MinimumOpset || from > TargetOpset)
            throw new NotSupportedException(
                $"model graph '{model.Graph.Name}' uses ONNX opset {from}; only opsets {MinimumOpset} to {TargetOpset} can be upgraded to {TargetOpset} (re-export with opset_version between 13 and 17)");
        var copy = model.Clone();
        if (from == TargetOpset) return copy;

        var builder = new GraphBuilder(copy.Graph);
        ReserveSubgraphNames(builder, copy.Graph);
        UpgradeGraph(copy.Graph, builder, from);
        foreach (var o in copy.OpsetImport)
            if (o.Domain is "" or "ai.onnx") o.Version = TargetOpset;
        if (copy.IrVersion < OnnxModel.DefaultIrVersion) copy.IrVersion = OnnxModel.DefaultIrVersion;
        return copy;
    }

    private static void UpgradeGraph(GraphProto graph, GraphBuilder main, long from)
    {
        foreach (var node in graph.Node)
        {
            foreach (var a in node.Attribute)
            {
                if (a.G is not null) UpgradeGraph(a.G, main, from);
                foreach (var g in a.Graphs) UpgradeGraph(g, main, from);
            }
            if (node.Domain is not ("" or "ai.onnx")) continue;

            if (ReducesWithAxesInput.Contains(node.OpType)) MoveAxesToInput(node, main);
            else if (node.OpType == "Split") AddNumOutputs(node);
            else if (node.OpType == "RoiAlign" && from < 16 && node.FindAttribute("coordinate_transformation_mode") is null)
                node.Attribute.Add(Attr.String("coordinate_transformation_mode", "output_half_pixel"));
            else if (node.OpType == "BatchNormalization" && from < 14 && node.Output.Count(o => o.Length > 0) > 1)
                throw new NotSupportedException(
                    $"{node.Describe()} uses the opset-{from} training outputs (running mean / variance, saved statistics), whose meaning changed in opset 14; export the model in eval mode");
        }
    }

    private static void MoveAxesToInput(NodeProto node, GraphBuilder main)
    {
        var axes = node.FindAttribute("axes");
        if (axes is null) return;
        if (node.Input.Count > 1)
            throw new NotSupportedException($"{node.Describe()} has both an axes attribute and a second input");
        var name = main.ConstInt64($"{(node.Name.Length > 0 ? node.Name : node.OpType)}_axes", axes.Ints.ToArray());
        node.Input.Add(name);
        node.Attribute.Remove(axes);
    }

    private static void AddNumOutputs(NodeProto node)
    {
        bool hasSplitInput = node.Input.Count > 1 && node.Input[1].Length > 0;
        if (hasSplitInput || node.FindAttribute("num_outputs") is not null) return;
        node.Attribute.Add(Attr.Int("num_outputs", node.Output.Count));
    }

    private static void ReserveSubgraphNames(GraphBuilder main, GraphProto graph)
    {
        foreach (var node in graph.Node)
            foreach (var a in node.Attribute)
                foreach (var g in a.G is null ? a.Graphs : a.Graphs.Append(a.G))
                {
                    foreach (var t in g.Initializer) main.Unique(t.Name);
                    foreach (var i in g.Input) main.Unique(i.Name);
                    foreach (var n in g.Node)
                        foreach (var o in n.Output) main.Unique(o);
                    ReserveSubgraphNames(main, g);
                }
    }
}
