using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Autodiff;

/// <summary>Learns the static shape and element type of every value of a forward graph by running it.</summary>
internal static class ShapeProbe
{
    /// <summary>The two batch sizes the model is run at; a dim that differs between them becomes -1.</summary>
    internal static readonly long[] ProbeBatches = [2, 3];

    /// <summary>
    /// Runs the forward model in ORT (CPU) on a copy with every node output exposed as a graph output, at batch sizes
    /// 2 and 3, fed deterministic pseudo-random inputs (floats in [-1, 1), integers 0, bools false); records every value's
    /// dims and element type, and turns dims that change with the batch into -1. Initializers get their stored dims.
    /// <paramref name="batchInput"/> gets <paramref name="inputShapeWithBatchAsMinus1"/> with -1 replaced by the batch
    /// size; any other graph input gets its declared shape with symbolic or missing dims replaced by the batch size.
    /// Small int32/int64 values that are the same at both batch sizes and computed from int constants and shapes only
    /// (not from the values of inputs or float initializers) are recorded too, so that rules can read Slice/Pad/Reduce parameters computed by ops
    /// (torch.onnx.export without constant folding) as constants.
    /// The model is not modified. Values of types other than tensors are not supported.
    /// </summary>
    /// <exception cref="ArgumentException">The batch input is not a graph input, or its shape has no -1 or a dim below -1, or
    /// ONNX Runtime fails to run the model at that shape (the message names the input and the shape).</exception>
    /// <exception cref="InvalidDataException">ONNX Runtime cannot load the model.</exception>
    public static ShapeTable Infer(ModelProto model, string batchInput, long[] inputShapeWithBatchAsMinus1)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShapeWithBatchAsMinus1);
        var graph = model.Graph ?? throw new ArgumentException("model has no graph", nameof(model));
        var initNames = new HashSet<string>(graph.Initializer.Select(t => t.Name), StringComparer.Ordinal);
        var feeds = graph.Input.Where(i => !initNames.Contains(i.Name)).ToList();
        if (!feeds.Any(i => i.Name == batchInput))
            throw new ArgumentException($"'{batchInput}' is not an input of graph '{graph.Name}' (inputs: {string.Join(", ", feeds.Select(i => i.Name))})", nameof(batchInput));
        if (inputShapeWithBatchAsMinus1.Count(d => d == -1) != 1 || inputShapeWithBatchAsMinus1.Any(d => d < -1))
            throw new ArgumentException($"shape {ShapeTable.Format(inputShapeWithBatchAsMinus1)} of '{batchInput}' must have exactly one -1 (the batch) and no dim below -1", nameof(inputShapeWithBatchAsMinus1));

        var probe = model.Clone();
        var g = probe.Graph;
        var already = new HashSet<string>(g.Output.Select(o => o.Name), StringComparer.Ordinal);
        foreach (var n in g.Node)
            foreach (var o in n.Output)
                if (o.Length > 0 && already.Add(o))
                    g.Output.Add(new ValueInfoProto { Name = o });
        g.ValueInfo.Clear();
        var outputNames = g.Output.Select(o => o.Name).ToArray();

        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        InferenceSession session;
        try { session = new InferenceSession(OnnxModel.ToBytes(probe), options); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"ONNX Runtime cannot load the model (graph '{graph.Name}'): {FirstLine(e.Message)}", e); }
        using var _ = session;
        using var runOptions = new RunOptions();
        var runs = new List<Dictionary<string, (long[] Dims, ElementType Type)>>();
        var intRuns = new List<Dictionary<string, long[]>>();
        foreach (var batch in ProbeBatches)
        {
            var values = new List<OrtValue>();
            try
            {
                var names = new List<string>();
                foreach (var input in feeds)
                {
                    long[] dims = input.Name == batchInput
                        ? inputShapeWithBatchAsMinus1.Select(d => d == -1 ? batch : d).ToArray()
                        : DeclaredDims(input, batch);
                    names.Add(input.Name);
                    values.Add(MakeInput(input, dims, batch));
                }
                IDisposableReadOnlyCollection<OrtValue> ran;
                try { ran = session.Run(runOptions, names, values, outputNames); }
                catch (OnnxRuntimeException e)
                {
                    throw new ArgumentException($"the model does not run on input '{batchInput}' of shape {ShapeTable.Format(inputShapeWithBatchAsMinus1)} " +
                        $"(N = {batch}); check the input shape (ArtifactOptions.InputShape, or the data's image size) against the model: {FirstLine(e.Message)}", e);
                }
                using var results = ran;
                var rec = new Dictionary<string, (long[], ElementType)>(StringComparer.Ordinal);
                var ints = new Dictionary<string, long[]>(StringComparer.Ordinal);
                int k = 0;
                foreach (var r in results)
                {
                    var info = r.GetTensorTypeAndShape();
                    var name = outputNames[k++];
                    rec[name] = (info.Shape, FromOrt(info.ElementDataType, name));
                    if (info.ElementCount <= MaxRecordedInts && info.ElementDataType == TensorElementType.Int64)
                        ints[name] = r.GetTensorDataAsSpan<long>().ToArray();
                    else if (info.ElementCount <= MaxRecordedInts && info.ElementDataType == TensorElementType.Int32)
                        ints[name] = r.GetTensorDataAsSpan<int>().ToArray().Select(v => (long)v).ToArray();
                }
                intRuns.Add(ints);
                for (int i = 0; i < names.Count; i++)
                {
                    var info = values[i].GetTensorTypeAndShape();
                    rec[names[i]] = (info.Shape, FromOrt(info.ElementDataType, names[i]));
                }
                runs.Add(rec);
            }
            finally
            {
                foreach (var v in values) v.Dispose();
            }
        }

        var table = new ShapeTable();
        foreach (var t in graph.Initializer)
            table.Set(t.Name, t.Dims.ToArray(), (ElementType)t.DataType);
        foreach (var (name, first) in runs[0])
        {
            var second = runs[1][name];
            long[] dims;
            if (first.Dims.Length != second.Dims.Length)
                throw new InvalidDataException($"value '{name}' has rank {first.Dims.Length} at batch {ProbeBatches[0]} but rank {second.Dims.Length} at batch {ProbeBatches[1]}; rank must not depend on the batch");
            dims = new long[first.Dims.Length];
            for (int i = 0; i < dims.Length; i++) dims[i] = first.Dims[i] == second.Dims[i] ? first.Dims[i] : -1;
            table.Set(name, dims, first.Type);
            var batchAxes = Enumerable.Range(0, dims.Length)
                .Where(i => first.Dims[i] == ProbeBatches[0] && second.Dims[i] == ProbeBatches[1]).ToArray();
            if (batchAxes.Length > 0) table.SetBatchAxes(name, batchAxes);
            var multiples = Enumerable.Range(0, dims.Length).Select(i => dims[i] < 0 && first.Dims[i] % ProbeBatches[0] == 0
                && second.Dims[i] % ProbeBatches[1] == 0 && first.Dims[i] / ProbeBatches[0] == second.Dims[i] / ProbeBatches[1]
                ? first.Dims[i] / ProbeBatches[0] : 0L).ToArray();
            if (multiples.Any(k => k > 0)) table.SetBatchMultiples(name, multiples);
        }
        var dataFree = DataFreeValues(graph, feeds.Select(f => f.Name));
        foreach (var (name, first) in intRuns[0])
            if (dataFree.Contains(name) && intRuns[1].TryGetValue(name, out var second) && first.AsSpan().SequenceEqual(second))
                table.SetIntValue(name, first);
        return table;
    }

    /// <summary>Ops whose outputs are not functions of their inputs' shapes and values alone (random draws, control flow).</summary>
    private static readonly HashSet<string> NotDataFree = new(StringComparer.Ordinal)
    {
        "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout",
        "If", "Loop", "Scan",
    };

    /// <summary>
    /// Values computed only from integer initializers that are not fed, Constant nodes and shapes (Shape, Size), never
    /// from the values of graph inputs or float initializers (parameters, which training changes): only these may be
    /// recorded as constant ints (the same notion of shape arithmetic as ForwardShapeFolding's). An int that the probe
    /// saw equal at both batch sizes but that is computed from data (an index from ArgMax, a comparison, an int64
    /// input the probe fed zeros) differs at run time, and a rule that read it as a constant would send gradients to
    /// the wrong elements. Shapes count as data-free: the shape table assumes that shapes depend on the batch only.
    /// </summary>
    private static HashSet<string> DataFreeValues(GraphProto graph, IEnumerable<string> feeds)
    {
        var fed = new HashSet<string>(feeds, StringComparer.Ordinal);
        var free = new HashSet<string>(graph.Initializer
            .Where(t => !fed.Contains(t.Name) && t.DataType is (int)TensorProto.Types.DataType.Int64 or (int)TensorProto.Types.DataType.Int32)
            .Select(t => t.Name), StringComparer.Ordinal);
        foreach (var n in ReverseMode.TopologicalOrder(graph))
        {
            if (NotDataFree.Contains(n.OpType) || n.Domain.Length != 0) continue;
            var inputs = n.Input.Where(i => i.Length > 0).ToList();
            if (n.OpType is "Shape" or "Size" or "Constant" || (inputs.Count > 0 && inputs.All(free.Contains)))
                foreach (var o in n.Output) if (o.Length > 0) free.Add(o);
        }
        return free;
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    /// <summary>Integer tensors up to this many elements have their values recorded when equal at both batch sizes.</summary>
    internal const int MaxRecordedInts = 64;

    private static long[] DeclaredDims(ValueInfoProto input, long batch)
    {
        var shape = input.Type?.TensorType?.Shape;
        if (shape is null) throw new ArgumentException($"graph input '{input.Name}' declares no shape; cannot make a probe value for it");
        return shape.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue >= 0 ? d.DimValue : batch).ToArray();
    }

    private static OrtValue MakeInput(ValueInfoProto input, long[] dims, long seed)
    {
        int n = checked((int)Tensors.ElementCount(dims));
        var rng = new Random(unchecked((int)(17 + seed)));
        var type = (ElementType)(input.Type?.TensorType?.ElemType ?? 0);
        return type switch
        {
            ElementType.Float => OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), dims),
            ElementType.Double => OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 - 1).ToArray(), dims),
            ElementType.Int64 => OrtValue.CreateTensorValueFromMemory(new long[n], dims),
            ElementType.Int32 => OrtValue.CreateTensorValueFromMemory(new int[n], dims),
            ElementType.UInt8 => OrtValue.CreateTensorValueFromMemory(new byte[n], dims),
            ElementType.Bool => OrtValue.CreateTensorValueFromMemory(new bool[n], dims),
            _ => throw new NotSupportedException($"graph input '{input.Name}' has element type {(int)type}; the shape probe feeds float, double, int64, int32, uint8 and bool inputs"),
        };
    }

    private static ElementType FromOrt(TensorElementType t, string name) => t switch
    {
        TensorElementType.Float => ElementType.Float,
        TensorElementType.Double => ElementType.Double,
        TensorElementType.Int64 => ElementType.Int64,
        TensorElementType.Int32 => ElementType.Int32,
        TensorElementType.UInt8 => ElementType.UInt8,
        TensorElementType.Bool => ElementType.Bool,
        TensorElementType.Float16 => ElementType.Float16,
        TensorElementType.BFloat16 => ElementType.BFloat16,
        _ => throw new NotSupportedException($"value '{name}' has ORT element type {t}, which the shape table does not model"),
    };
}
