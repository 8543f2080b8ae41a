using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Autodiff;

/// <summary>
/// Small helpers shared by the gradient rules and the training rewrite: typed constants (cached), shape vectors that
/// take batch-dependent dims from a reference value, broadcast reductions, expands and reshapes.
/// </summary>
internal sealed class GradEmitter
{
    private readonly Dictionary<string, string> _constCache = new(StringComparer.Ordinal);

    public GradEmitter(GraphBuilder builder, ShapeTable shapes)
    {
        B = builder;
        Shapes = shapes;
        foreach (var t in builder.Graph.Initializer) Initializers[t.Name] = t;
        foreach (var n in builder.Graph.Node)
            if (n.OpType == "Constant" && n.Output.Count == 1 && n.FindAttribute("value") is { T: { } v }) Initializers[n.Output[0]] = v;
    }

    public GraphBuilder B { get; }

    /// <summary>
    /// Gradient value -> the Relu output it was sent to, for gradients that are already zero wherever that Relu's output
    /// is 0 (a MaxPool over the Relu applies the Relu's mask at pooled size); the Relu rule passes such a gradient through.
    /// </summary>
    public Dictionary<string, string> ReluMaskedGradients { get; } = new(StringComparer.Ordinal);

    private Dictionary<string, NodeProto>? _producers;

    /// <summary>The node that produced <paramref name="value"/> among the nodes present at the first call, or null.</summary>
    public NodeProto? Producer(string value)
    {
        if (_producers is null)
        {
            _producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
            foreach (var n in B.Graph.Node)
                foreach (var o in n.Output)
                    if (o.Length > 0) _producers[o] = n;
        }
        return _producers.GetValueOrDefault(value);
    }
    public ShapeTable Shapes { get; }

    /// <summary>Constant tensors by value name: initializers and outputs of Constant nodes (value attribute).</summary>
    public Dictionary<string, TensorProto> Initializers { get; } = new(StringComparer.Ordinal);

    public string Op(string type, IReadOnlyList<string> inputs, params AttributeProto[] attrs) => B.Op(type, inputs, attrs);

    /// <summary>A 1-D int64 constant (shared between uses).</summary>
    public string I64(params long[] values) =>
        CachedConstant("i64:" + string.Join(",", values), () => Tensors.Int64("ad_i64", [values.Length], values));

    /// <summary>A scalar constant of element type <paramref name="type"/> (float or double).</summary>
    public string Scalar(double value, ElementType type) =>
        CachedConstant($"s:{(int)type}:{value:R}", () => MakeTensor("ad_scalar", [], [value], type));

    /// <summary>A bool scalar constant.</summary>
    public string Bool(bool value) =>
        CachedConstant($"b:{value}", () => new TensorProto { Name = value ? "ad_true" : "ad_false", DataType = (int)ElementType.Bool, Int32Data = { value ? 1 : 0 } });

    /// <summary>One initializer per <paramref name="key"/> on this emitter's builder.</summary>
    private string CachedConstant(string key, Func<TensorProto> make)
    {
        if (!_constCache.TryGetValue(key, out var name)) _constCache[key] = name = B.Initializer(make());
        return name;
    }

    /// <summary>A constant tensor of element type <paramref name="type"/> (float or double).</summary>
    public string Const(string prefix, long[] dims, double[] values, ElementType type) => B.Initializer(MakeTensor(prefix, dims, values, type));

    public static TensorProto MakeTensor(string name, long[] dims, double[] values, ElementType type) => type switch
    {
        ElementType.Float => Tensors.Float(name, dims, values.Select(v => (float)v).ToArray()),
        ElementType.Double => Tensors.Double(name, dims, values),
        _ => throw new NotSupportedException($"gradient constants of element type {type} are not supported (float and double are)"),
    };

    /// <summary>
    /// Reads an int64/int32 constant (initializer, Constant node, or a small integer value the shape probe saw
    /// unchanged at both batch sizes) or returns null when the value is not known to be constant.
    /// </summary>
    public long[]? TryConstInt64(string value)
    {
        if (value.Length == 0) return null;
        if (!Initializers.TryGetValue(value, out var t)) return Shapes.TryGetIntValue(value, out var probed) ? probed : null;
        if (t.DataType == (int)TensorProto.Types.DataType.Int64) return Tensors.ToInt64s(t);
        if (t.DataType == (int)TensorProto.Types.DataType.Int32)
            return t.RawData.Length > 0 ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(t.RawData.Span).ToArray().Select(v => (long)v).ToArray() : t.Int32Data.Select(v => (long)v).ToArray();
        return null;
    }

    /// <summary>Reads a float/double scalar constant or returns null.</summary>
    public double? TryConstScalar(string value)
    {
        if (value.Length == 0 || !Initializers.TryGetValue(value, out var t)) return null;
        if (Tensors.ElementCount(t.Dims) != 1) return null;
        if (t.DataType == (int)TensorProto.Types.DataType.Float) return Tensors.ToFloats(t)[0];
        if (t.DataType == (int)TensorProto.Types.DataType.Double)
            return t.RawData.Length > 0 ? BitConverter.ToDouble(t.RawData.Span) : t.DoubleData[0];
        return null;
    }

    /// <summary>Reads a bool scalar constant or returns null.</summary>
    public bool? TryConstBool(string value)
    {
        if (value.Length == 0 || !Initializers.TryGetValue(value, out var t)) return null;
        if (t.DataType != (int)TensorProto.Types.DataType.Bool || Tensors.ElementCount(t.Dims) != 1) return null;
        return t.RawData.Length > 0 ? t.RawData[0] != 0 : t.Int32Data[0] != 0;
    }

    /// <summary>
    /// A 1-D int64 shape vector for <paramref name="dims"/>: a constant when every dim is fixed; Shape(<paramref name="reference"/>)
    /// when the reference's dims (shape table) are exactly <paramref name="dims"/>; otherwise built from Slices of
    /// Shape(<paramref name="reference"/>), whose dim at each -1 axis must be the wanted one, and constants.
    /// Only the first two forms keep the shape off host arithmetic (ONNX Runtime runs a Concat of Shape slices on the
    /// CPU EP; see docs/training-graphs.md, "CUDA placement"), so callers prefer references of the exact shape.
    /// </summary>
    public string ShapeVec(long[] dims, string reference)
    {
        if (dims.All(d => d >= 0)) return I64(dims);
        if (Shapes.TryGet(reference, out var refDims) && refDims.SequenceEqual(dims)) return Op("Shape", [reference]);
        var shape = Op("Shape", [reference]);
        var parts = new List<string>();
        var run = new List<long>();
        for (int i = 0; i < dims.Length; i++)
        {
            if (dims[i] >= 0) { run.Add(dims[i]); continue; }
            if (run.Count > 0) { parts.Add(I64(run.ToArray())); run.Clear(); }
            parts.Add(Op("Slice", [shape, I64(i), I64(i + 1)]));
        }
        if (run.Count > 0) parts.Add(I64(run.ToArray()));
        return parts.Count == 1 ? parts[0] : Op("Concat", parts, Attr.Int("axis", 0));
    }

    /// <summary>
    /// Reshape to <paramref name="dims"/>: a constant shape when at most one dim is -1 (left to Reshape), else
    /// <see cref="ShapeVec"/> of <paramref name="reference"/> (Shape(reference) when its dims are <paramref name="dims"/>).
    /// </summary>
    public string ReshapeTo(string value, long[] dims, string reference) =>
        Op("Reshape", [value, dims.Count(d => d < 0) <= 1 ? I64(dims) : ShapeVec(dims, reference)]);

    /// <summary>
    /// Expands <paramref name="value"/> (dims <paramref name="srcDims"/>, same rank) to <paramref name="targetDims"/>.
    /// Batch-dependent axes the value already has stay 1 in the expand shape; when other batch-dependent axes remain,
    /// the shape is Shape(<paramref name="targetRef"/>) (whose dims must be <paramref name="targetDims"/>; Expand reads it
    /// on the host, so nothing is computed there). With <paramref name="spreadSmallTrailing"/> (CPU graphs) a spread over
    /// small trailing axes is a MatMul with a row of ones instead (<see cref="TrailingSpread"/>).
    /// </summary>
    public string ExpandTo(string value, long[] srcDims, long[] targetDims, string targetRef, bool spreadSmallTrailing = false)
    {
        if (spreadSmallTrailing && TrailingSpread(value, srcDims, targetDims, targetRef) is { } spread) return spread;
        var shape = (long[])targetDims.Clone();
        int off = targetDims.Length - srcDims.Length;
        for (int i = 0; i < shape.Length; i++)
            if (shape[i] < 0 && i - off >= 0 && srcDims[i - off] < 0) shape[i] = 1;
        if (srcDims.SequenceEqual(targetDims)) return value;
        if (shape.Any(d => d < 0) && Shapes.TryGet(targetRef, out var refDims) && refDims.SequenceEqual(targetDims))
            return Op("Expand", [value, Op("Shape", [targetRef])]);
        return Op("Expand", [value, ShapeVec(shape, targetRef)]);
    }

    /// <summary>
    /// Expand of [lead..., 1, ..., 1] to [lead..., t1, ..., tk] (trailing axes only, fixed sizes, small product T) as a
    /// MatMul of the value as a column [L, 1] with a row of T ones: exact (each output is one value times 1), and ORT's
    /// CPU Expand copies such small spans element by element (see docs/autodiff.md, "Measured costs of the pieces"). Null when
    /// the shapes do not fit.
    /// </summary>
    private string? TrailingSpread(string value, long[] srcDims, long[] targetDims, string targetRef)
    {
        if (srcDims.Length != targetDims.Length) return null;
        int i = 0;
        while (i < srcDims.Length && srcDims[i] == targetDims[i] && srcDims[i] != 1) i++;
        if (i == 0 || i == srcDims.Length) return null;
        long t = 1;
        for (int j = i; j < srcDims.Length; j++)
        {
            if (srcDims[j] != 1 || targetDims[j] < 1) return null;
            t *= targetDims[j];
        }
        if (t < 2 || t > 64 || targetDims.Take(i).Count(d => d < 0) > 1 || !Shapes.Contains(targetRef)) return null;
        var type = Shapes.TypeOf(targetRef); // gradient values have the type of the forward value they belong to
        var ones = Const("ad_ones_row", [1, t], Enumerable.Repeat(1.0, (int)t).ToArray(), type);
        var column = Op("Reshape", [value, I64(-1, 1)]);
        return ReshapeTo(Op("MatMul", [column, ones]), targetDims, targetRef);
    }

    /// <summary>
    /// A scalar of element type <paramref name="type"/>: the product of <paramref name="reference"/>'s dims over
    /// <paramref name="axes"/> (non-negative, distinct). Fixed dims give a constant. Batch-dependent dims are counted on
    /// the device, without host shape arithmetic: ReduceSum(Where(true, 1, s), keepdims 0) with s = Slice(reference) to
    /// length 1 on every other axis (so s has exactly the batch-dependent dims), times the fixed factor. Exact while the
    /// count stays below 2^24 (float) or 2^53 (double). A count made once for a reference and axes is reused by every
    /// emitter on the same builder (a batch norm's forward rewrite and its gradient rule).
    /// </summary>
    public string ElementCount(string reference, long[] axes, ElementType type)
    {
        var key = $"element-count|{reference}|{string.Join(',', axes)}|{type}";
        return B.Derived(key, () => EmitElementCount(reference, axes, type));
    }

    private string EmitElementCount(string reference, long[] axes, ElementType type)
    {
        var dims = Shapes[reference];
        long fixedPart = 1;
        var dynamic = new HashSet<long>();
        foreach (var a in axes)
        {
            if (dims[a] < 0) dynamic.Add(a);
            else fixedPart *= dims[a];
        }
        if (dynamic.Count == 0) return Scalar(fixedPart, type);
        var cut = Enumerable.Range(0, dims.Length).Where(i => !dynamic.Contains(i) && dims[i] != 1).Select(i => (long)i).ToArray();
        // Shapes are registered so that the count may sit on a path the reverse sweep walks (a batch norm's variance).
        var sliced = dims.Select((d, i) => cut.Contains(i) ? 1L : d).ToArray();
        var s = cut.Length == 0 ? reference
            : Op("Slice", [reference, I64(new long[cut.Length]), I64(Enumerable.Repeat(1L, cut.Length).ToArray()), I64(cut)]);
        var refType = Shapes.TypeOf(reference);
        Shapes.Set(s, sliced, refType);
        var ones = Filled(s, 1, refType);
        Shapes.Set(ones, sliced, refType);
        if (refType != type)
        {
            ones = Op("Cast", [ones], Attr.Int("to", (long)type));
            Shapes.Set(ones, sliced, type);
        }
        var count = Op("ReduceSum", [ones], Attr.Int("keepdims", 0));
        Shapes.Set(count, [], type);
        if (fixedPart == 1) return count;
        var scaled = Mul(count, Scalar(fixedPart, type));
        Shapes.Set(scaled, [], type);
        return scaled;
    }

    /// <summary>
    /// Sums <paramref name="grad"/> (dims <paramref name="gradDims"/>) over the axes where the target was broadcast, then
    /// reshapes to the target's dims. Leading axes the target lacks but whose size is 1 need no sum (it would be a copy per
    /// recurrent MatMul of an unrolled LSTM; see docs/autodiff.md, "Conventions and formulas"), only the reshape.
    /// </summary>
    public string Unbroadcast(string grad, long[] gradDims, long[] targetDims, string targetRef)
    {
        int off = gradDims.Length - targetDims.Length;
        if (off < 0) throw new InvalidOperationException($"cannot reduce a gradient of shape {ShapeTable.Format(gradDims)} to the larger shape {ShapeTable.Format(targetDims)}");
        var axes = new List<long>();
        for (int i = 0; i < gradDims.Length; i++)
            if ((i < off && gradDims[i] != 1) || (i >= off && targetDims[i - off] == 1 && gradDims[i] != 1)) axes.Add(i);
        if (axes.Count == 0 && off == 0) return grad;
        var g = axes.Count > 0 ? ReduceSum(grad, axes.ToArray(), keepDims: true) : grad;
        if (off == 0) return g;
        return ReshapeTo(g, targetDims, targetRef);
    }

    public string ReduceSum(string value, long[] axes, bool keepDims) =>
        Op("ReduceSum", [value, I64(axes)], Attr.Int("keepdims", keepDims ? 1 : 0));

    public string Transpose(string value, params long[] perm) => Op("Transpose", [value], Attr.Ints("perm", perm));

    public string Mul(string a, string b) => Op("Mul", [a, b]);

    public string Scale(string a, double factor, ElementType type) => factor == 1.0 ? a : Mul(a, Scalar(factor, type));

    /// <summary>
    /// Zeros of <paramref name="dims"/> and element type <paramref name="type"/>: ConstantOfShape of the dims when they are
    /// all fixed; with batch-dependent dims, Where(true, 0, reference) when <paramref name="reference"/> has exactly these
    /// dims and type (its values are not read into the result, so an Inf or NaN there cannot leak in), else
    /// ConstantOfShape(<see cref="ShapeVec"/>). Not ConstantOfShape(Shape(reference)): ONNX Runtime's transpose optimizer
    /// rewrites Shape(Transpose(v)) as Gather(Shape(v), perm), and that Gather of a host shape runs on the CPU, which a
    /// CUDA session with CPU fallback disabled refuses (see docs/gpu.md, "Sequence and text models on CUDA").
    /// </summary>
    public string Zeros(long[] dims, string reference, ElementType type)
    {
        if (dims.Any(d => d < 0) && Shapes.TryGet(reference, out var refDims) && refDims.SequenceEqual(dims) && Shapes.TypeOf(reference) == type)
            return Filled(reference, 0, type);
        return Op("ConstantOfShape", [ShapeVec(dims, reference)], Attr.Tensor("value", MakeTensor("zero", [1], [0.0], type)));
    }

    /// <summary>
    /// <paramref name="value"/> in <paramref name="reference"/>'s shape (element type <paramref name="type"/>, the
    /// reference's): Where(true, value, reference), which reads no shape on the host, so that no Shape node is left for
    /// ORT's transpose optimizer to turn into host arithmetic (see <see cref="Zeros"/>).
    /// </summary>
    private string Filled(string reference, double value, ElementType type) => Op("Where", [Bool(true), Scalar(value, type), reference]);

}
