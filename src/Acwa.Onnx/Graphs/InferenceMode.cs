using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Graphs;

/// <summary>
/// Puts the nodes that an exporter left in training mode into inference mode, so that a model's output for one sample
/// does not depend on the batch it comes in. torch.onnx.export with <c>TrainingMode.TRAINING</c> (the export ONNX
/// Runtime's on-device-training tutorial uses), or <c>PRESERVE</c> on a module in train mode, writes:
/// <list type="bullet">
/// <item>BatchNormalization with <c>training_mode = 1</c>: it normalises with the batch's mean and variance. Converted:
/// the attribute is removed, so the node normalises with its running mean and variance inputs (the statistics PyTorch's
/// eval mode uses); its optional running-statistics outputs, which only the training form computes, are dropped.</item>
/// <item>Dropout whose <c>training_mode</c> input is a constant true: it zeroes a random share of its input. Converted:
/// the <c>training_mode</c> input is removed (inference mode, the identity).</item>
/// </list>
/// The Constant nodes and initializers that only fed what was removed are removed too (ONNX Runtime would otherwise
/// warn about unused initializers at every session start). A Dropout whose <c>training_mode</c> is a graph input, which
/// the caller feeds, is left as it is. Nodes inside subgraphs (If, Loop, Scan bodies) are not touched.
/// </summary>
public static class InferenceMode
{
    /// <summary>The training-mode nodes of <paramref name="g"/>'s top level, described as "node 'NAME' (OpType)".</summary>
    public static IReadOnlyList<string> TrainingModeNodes(GraphProto g)
    {
        ArgumentNullException.ThrowIfNull(g);
        var constants = new ConstantLookup(g);
        return g.Node.Where(n => IsTrainingBatchNorm(n) || IsTrainingDropout(n, constants)).Select(n => n.Describe()).ToList();
    }

    /// <summary>
    /// A copy of <paramref name="model"/> with every training-mode node in inference mode (see the class); the input is
    /// not modified. <paramref name="converted"/> describes the converted nodes (empty: the copy equals the input).
    /// </summary>
    /// <exception cref="NotSupportedException">A training-mode BatchNormalization's running-statistics outputs are read by
    /// the graph (inference mode cannot compute them); the message names the node.</exception>
    public static ModelProto Apply(ModelProto model, out IReadOnlyList<string> converted)
    {
        ArgumentNullException.ThrowIfNull(model);
        var copy = model.Clone();
        converted = ApplyInPlace(copy.Graph ?? throw new InvalidDataException("the model has no graph"));
        return copy;
    }

    /// <summary>Converts <paramref name="g"/> in place; returns the converted nodes' descriptions.</summary>
    internal static List<string> ApplyInPlace(GraphProto g)
    {
        var constants = new ConstantLookup(g);
        var read = GraphPruning.ReadValues(g);
        var converted = new List<string>();
        foreach (var n in g.Node)
        {
            if (IsTrainingBatchNorm(n))
            {
                for (int i = 1; i < n.Output.Count; i++)
                    if (n.Output[i].Length > 0 && read.Contains(n.Output[i]))
                        throw new NotSupportedException($"{n.Describe()}: its running-statistics output '{n.Output[i]}' is read by the graph; only the training form of batch norm computes it, so the model cannot be put into inference mode");
                n.Attribute.Remove(n.FindAttribute("training_mode")!);
                while (n.Output.Count > 1) n.Output.RemoveAt(n.Output.Count - 1);
                converted.Add(n.Describe());
            }
            else if (IsTrainingDropout(n, constants))
            {
                n.Input.RemoveAt(2);
                while (n.Input.Count > 1 && n.Input[^1].Length == 0) n.Input.RemoveAt(n.Input.Count - 1);
                converted.Add(n.Describe());
            }
        }
        if (converted.Count > 0) GraphPruning.RemoveUnread(g);
        return converted;
    }

    private static bool IsTrainingBatchNorm(NodeProto n) =>
        n.OpType == "BatchNormalization" && n.Domain is "" or "ai.onnx" && n.GetInt("training_mode", 0) != 0;

    private static bool IsTrainingDropout(NodeProto n, ConstantLookup constants) =>
        n.OpType == "Dropout" && n.Domain is "" or "ai.onnx" && n.Input.Count > 2 && n.Input[2].Length > 0
        && constants.Bool(n.Input[2]) == true;

    /// <summary>Scalar bool values of initializers and Constant nodes.</summary>
    private sealed class ConstantLookup(GraphProto g)
    {
        private readonly Dictionary<string, TensorProto> _values = g.Initializer
            .Concat(g.Node.Where(n => n.OpType == "Constant" && n.Output.Count == 1 && n.FindAttribute("value")?.T is not null)
                .Select(n => WithName(n.FindAttribute("value")!.T, n.Output[0])))
            .GroupBy(t => t.Name).ToDictionary(t => t.Key, t => t.Last(), StringComparer.Ordinal);

        private static TensorProto WithName(TensorProto t, string name) { var c = t.Clone(); c.Name = name; return c; }

        /// <summary>The value of a one-element bool constant, or null when <paramref name="name"/> is not one.</summary>
        public bool? Bool(string name)
        {
            if (!_values.TryGetValue(name, out var t) || t.DataType != (int)TensorProto.Types.DataType.Bool || Tensors.ElementCount(t.Dims) != 1)
                return null;
            if (t.RawData.Length == 1) return t.RawData[0] != 0;
            if (t.Int32Data.Count == 1) return t.Int32Data[0] != 0;
            return null;
        }
    }
}
