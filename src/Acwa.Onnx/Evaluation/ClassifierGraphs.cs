using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Evaluation;

/// <summary>Graph surgery on ONNX classifiers for fast evaluation.</summary>
public static class ClassifierGraphs
{
    /// <summary>Default name of the output added by <see cref="WithArgMaxOutput"/>.</summary>
    public const string PredictionsOutput = "acwa.predictions";

    /// <summary>
    /// A copy of <paramref name="model"/> with one more graph output, <paramref name="predictionsName"/>:
    /// <c>ArgMax(logits, axis = 1, keepdims = 0)</c>, int64 [N]. Ties go to the lowest index (ONNX's default
    /// <c>select_last_index = 0</c>, the same rule as the host kernels of <see cref="Metrics.ConfusionMatrix"/>); a row
    /// holding NaN gives whatever index the execution provider returns (no NaN check, unlike the host path).
    /// Binding only this output brings 8 bytes per sample back instead of 4 x classes.
    /// The original outputs stay; the input model is not modified.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is not a graph output, or
    /// <paramref name="predictionsName"/> is already used in the graph.</exception>
    public static ModelProto WithArgMaxOutput(ModelProto model, string logits, string predictionsName = PredictionsOutput)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(logits);
        ArgumentException.ThrowIfNullOrEmpty(predictionsName);
        if (!model.Graph.Output.Any(o => o.Name == logits))
            throw new ArgumentException($"'{logits}' is not an output of the graph (outputs: {string.Join(", ", model.Graph.Output.Select(o => o.Name))})", nameof(logits));
        var copy = model.Clone();
        var b = new GraphBuilder(copy.Graph);
        try { b.OpNamed("ArgMax", [logits], predictionsName, Attr.Int("axis", 1), Attr.Int("keepdims", 0)); }
        catch (InvalidOperationException e) { throw new ArgumentException($"'{predictionsName}' is already a value of the graph: {e.Message}", nameof(predictionsName), e); }
        b.Output(predictionsName, ElementType.Int64, [null]);
        return copy;
    }

    /// <summary>The graph's inputs that are not initializers (what a caller must feed).</summary>
    internal static List<ValueInfoProto> FedInputs(GraphProto g)
    {
        var inits = g.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return g.Input.Where(i => !inits.Contains(i.Name)).ToList();
    }

    /// <summary>Declared dims of a value: a number, or null for a symbolic/unknown dim; null when no shape is declared.</summary>
    internal static long?[]? DeclaredDims(ValueInfoProto v)
    {
        if (v.Type?.TensorType?.Shape is not { } s) return null;
        return s.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : (long?)null).ToArray();
    }

    /// <summary>Formats dims as <c>[N, 10]</c> (symbolic dims by their name, unknown as ?).</summary>
    internal static string FormatShape(ValueInfoProto v)
    {
        if (v.Type?.TensorType?.Shape is not { } s) return "(no shape declared)";
        return "[" + string.Join(", ", s.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => d.DimParam,
            _ => "?",
        })) + "]";
    }
}
