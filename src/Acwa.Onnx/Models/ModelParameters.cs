using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Models;

/// <summary>Finds, counts and replaces the parameters (fp32 initializers) of a forward model.</summary>
internal static class ModelParameters
{
    /// <summary>
    /// Names of the batch-norm buffers: initializers used as the running mean or variance (inputs 3 and 4) of a
    /// top-level BatchNormalization node, in graph order, without duplicates.
    /// </summary>
    public static IReadOnlyList<string> BufferNames(ModelProto model)
    {
        var initializers = InitializerNames(model);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<string>();
        foreach (var node in Graph(model).Node)
        {
            if (node.OpType != "BatchNormalization" || node.Domain is not ("" or "ai.onnx")) continue;
            for (int i = 3; i <= 4 && i < node.Input.Count; i++)
                if (initializers.Contains(node.Input[i]) && seen.Add(node.Input[i])) result.Add(node.Input[i]);
        }
        return result;
    }

    /// <summary>
    /// Names of the trainable parameters: every fp32 initializer that is not a batch-norm buffer
    /// (<see cref="BufferNames"/>), in initializer order. Integer initializers (shapes, axes, pads) are never
    /// parameters. A float constant that is not meant to train has to be excluded by the caller.
    /// </summary>
    public static IReadOnlyList<string> TrainableNames(ModelProto model)
    {
        var buffers = new HashSet<string>(BufferNames(model), StringComparer.Ordinal);
        return Graph(model).Initializer
            .Where(t => t.DataType == (int)TensorProto.Types.DataType.Float && !buffers.Contains(t.Name))
            .Select(t => t.Name).ToList();
    }

    /// <summary>Number of trainable parameter values (the sum of the element counts of <see cref="TrainableNames"/>).</summary>
    public static long Count(ModelProto model)
    {
        var names = new HashSet<string>(TrainableNames(model), StringComparer.Ordinal);
        return Graph(model).Initializer.Where(t => names.Contains(t.Name)).Sum(t => Tensors.ElementCount(t.Dims));
    }

    /// <summary>
    /// A copy of <paramref name="model"/> in which each named fp32 initializer holds the given values (same shape,
    /// stored as raw data); other initializers are unchanged. The input model is not modified.
    /// </summary>
    /// <exception cref="ArgumentException">A name is not an initializer, the initializer is not fp32, or the number
    /// of values differs from its element count; the message names the initializer and both figures.</exception>
    public static ModelProto WithParameters(ModelProto model, IReadOnlyDictionary<string, float[]> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var copy = model.Clone();
        var byName = Graph(copy).Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var (name, data) in values)
        {
            if (!byName.TryGetValue(name, out var t))
                throw new ArgumentException($"model graph '{copy.Graph.Name}' has no initializer '{name}'", nameof(values));
            if (t.DataType != (int)TensorProto.Types.DataType.Float)
                throw new ArgumentException($"initializer '{name}' has data type {t.DataType}, not FLOAT (1)", nameof(values));
            long n = Tensors.ElementCount(t.Dims);
            if (data.LongLength != n)
                throw new ArgumentException($"initializer '{name}' of shape [{string.Join(",", t.Dims)}] needs {n} values, got {data.LongLength}", nameof(values));
            var replacement = Tensors.Float(name, t.Dims.ToArray(), data);
            t.FloatData.Clear();
            t.RawData = replacement.RawData;
        }
        return copy;
    }

    private static GraphProto Graph(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Graph ?? throw new ArgumentException("model has no graph", nameof(model));
    }

    private static HashSet<string> InitializerNames(ModelProto model) =>
        new(Graph(model).Initializer.Select(t => t.Name), StringComparer.Ordinal);
}
