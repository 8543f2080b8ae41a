using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Autodiff;

/// <summary>
/// Static shapes and element types of the values of a forward graph. A dimension of <c>-1</c> depends on the batch
/// size; every other dimension is fixed. Built by <see cref="ShapeProbe.Infer"/>; the rewrites and the gradient
/// rules add the values they create.
/// </summary>
internal sealed class ShapeTable
{
    private readonly Dictionary<string, long[]> _dims = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ElementType> _types = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long[]> _intValues = new(StringComparer.Ordinal);

    /// <summary>Number of values with a known shape.</summary>
    public int Count => _dims.Count;

    /// <summary>All value names with a known shape.</summary>
    public IEnumerable<string> Names => _dims.Keys;

    /// <summary>Looks up the dims of <paramref name="value"/> (-1 = batch-dependent); false when unknown.</summary>
    public bool TryGet(string value, out long[] dims)
    {
        if (_dims.TryGetValue(value, out var d)) { dims = (long[])d.Clone(); return true; }
        dims = [];
        return false;
    }

    /// <summary>The dims of <paramref name="value"/> (a copy); throws <see cref="KeyNotFoundException"/> naming the value when unknown.</summary>
    public long[] this[string value] =>
        _dims.TryGetValue(value, out var d) ? (long[])d.Clone()
        : throw new KeyNotFoundException($"shape table has no shape for value '{value}'");

    /// <summary>Whether <paramref name="value"/> has a known shape and type.</summary>
    public bool Contains(string value) => _dims.ContainsKey(value);

    /// <summary>The element type of <paramref name="value"/>; throws <see cref="KeyNotFoundException"/> naming the value when unknown.</summary>
    public ElementType TypeOf(string value) =>
        _types.TryGetValue(value, out var t) ? t
        : throw new KeyNotFoundException($"shape table has no element type for value '{value}'");

    /// <summary>Records (or replaces) the dims and element type of <paramref name="value"/>. Dims below -1 are rejected.</summary>
    public void Set(string value, long[] dims, ElementType type)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(dims);
        for (int i = 0; i < dims.Length; i++)
            if (dims[i] < -1) throw new ArgumentException($"value '{value}': dim {i} is {dims[i]}; dims must be >= 0 or -1 (batch-dependent)", nameof(dims));
        _dims[value] = (long[])dims.Clone();
        _types[value] = type;
    }

    /// <summary>
    /// Records the value of a small integer tensor that the probe saw unchanged at both batch sizes (e.g. Pad pads or
    /// Slice starts computed by ops, as torch.onnx.export emits without constant folding).
    /// </summary>
    internal void SetIntValue(string value, long[] values) => _intValues[value] = (long[])values.Clone();

    /// <summary>The batch-independent value of a small integer tensor, when the probe recorded one.</summary>
    internal bool TryGetIntValue(string value, out long[] values)
    {
        if (_intValues.TryGetValue(value, out var v)) { values = (long[])v.Clone(); return true; }
        values = [];
        return false;
    }

    private readonly Dictionary<string, int[]> _batchAxes = new(StringComparer.Ordinal);

    /// <summary>Records the axes of <paramref name="value"/> whose size the probe saw equal to the batch size itself.</summary>
    internal void SetBatchAxes(string value, int[] axes) => _batchAxes[value] = (int[])axes.Clone();

    /// <summary>The axes of <paramref name="value"/> whose size is the batch size (empty when none or unknown).</summary>
    internal int[] BatchAxes(string value) => _batchAxes.TryGetValue(value, out var a) ? (int[])a.Clone() : [];

    private readonly Dictionary<string, long[]> _batchMultiples = new(StringComparer.Ordinal);

    /// <summary>Records, per axis of <paramref name="value"/>, k where the probe saw its size equal k times the batch size (0 elsewhere).</summary>
    internal void SetBatchMultiples(string value, long[] multiples) => _batchMultiples[value] = (long[])multiples.Clone();

    /// <summary>k when <paramref name="axis"/> of <paramref name="value"/> has k times the batch size (e.g. Swin's N x windows), else 0.</summary>
    internal long BatchMultiple(string value, int axis) =>
        _batchMultiples.TryGetValue(value, out var m) && axis < m.Length ? m[axis] : 0;

    /// <summary>Formats a shape for messages, e.g. <c>[-1,3,28,28]</c>.</summary>
    internal static string Format(long[] dims) => "[" + string.Join(",", dims) + "]";
}
