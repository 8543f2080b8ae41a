using System.Text.Json;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>Exports a forward model with given parameter values baked in, for any ONNX Runtime InferenceSession.</summary>
public static class InferenceExport
{
    /// <summary>
    /// Returns a copy of <paramref name="forward"/> whose initializers named in <paramref name="values"/> hold those values
    /// (fp32; parameters and batch-norm running statistics, e.g. the Parameter and Buffer entries of a checkpoint).
    /// Metadata: <c>acwa.num_classes</c> when known and <c>class_names</c> (a JSON array of strings) when given.
    /// Nodes left in training mode by the exporter (batch norm on batch statistics, dropout on) are put into inference
    /// mode (<see cref="InferenceMode"/>), so that a prediction does not depend on the batch it comes in.
    /// </summary>
    /// <exception cref="ArgumentException">A value names no fp32 initializer of the model, or its shape differs.</exception>
    /// <exception cref="NotSupportedException">A training-mode batch norm's running-statistics outputs are read by the graph.</exception>
    public static ModelProto Build(ModelProto forward, IEnumerable<HostTensor> values, IReadOnlyList<string>? classNames = null, int? numClasses = null)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(values);
        var model = InferenceMode.Apply(forward, out _);
        var inits = model.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var v in values)
        {
            if (!inits.TryGetValue(v.Name, out var t))
                throw new ArgumentException($"'{v.Name}' is not an initializer of the forward model");
            if (t.DataType != (int)TensorProto.Types.DataType.Float || v.Data is null)
                throw new ArgumentException($"initializer '{v.Name}' is not fp32 or the given value is not fp32");
            if (!t.Dims.SequenceEqual(v.Shape))
                throw new ArgumentException($"value for '{v.Name}' has shape [{string.Join(",", v.Shape)}], the initializer has [{string.Join(",", t.Dims)}]");
            var replacement = Tensors.Float(v.Name, v.Shape, v.Data);
            int index = model.Graph.Initializer.IndexOf(t);
            model.Graph.Initializer[index] = replacement;
            inits[v.Name] = replacement;
        }
        SetMeta(model, "acwa.num_classes", numClasses?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (classNames is { Count: > 0 })
        {
            if (numClasses is { } c && classNames.Count != c)
                throw new ArgumentException($"{classNames.Count} class names given for {c} classes");
            SetMeta(model, "class_names", JsonSerializer.Serialize(classNames));
        }
        return model;
    }

    private static void SetMeta(ModelProto m, string key, string? value)
    {
        if (value is null) return;
        for (int i = m.MetadataProps.Count - 1; i >= 0; i--) if (m.MetadataProps[i].Key == key) m.MetadataProps.RemoveAt(i);
        m.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
    }
}
