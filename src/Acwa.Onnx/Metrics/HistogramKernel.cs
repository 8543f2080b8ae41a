using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Acwa.Onnx.Metrics;

/// <summary>
/// Confusion-matrix counting in two steps per chunk: a vector pass that range-checks labels and predictions against
/// <c>[0, classes)</c> and writes cell indices <c>label * classes + prediction</c>, then a scalar counting loop.
/// For small class counts the loop spreads consecutive samples over four sub-histograms so repeated increments of
/// the same cell (the diagonal of a good classifier) do not serialise on store-to-load forwarding.
/// </summary>
[SkipLocalsInit]
internal static unsafe class HistogramKernel
{
    /// <summary>Class counts up to this use four 32-bit sub-histograms (4 x 32 x 32 x 4 B = 16 KiB, fits L1).</summary>
    public const int SubHistogramMaxClasses = 32;

    /// <summary>Number of sub-histograms in the small-class counting loop.</summary>
    public const int SubHistograms = 4;

    /// <summary>
    /// Writes <c>labels[i] * classes + predictions[i]</c> to <paramref name="cells"/>.
    /// </summary>
    /// <returns>-1 when every value is in <c>[0, classes)</c>, else the index of the first sample with a bad value
    /// (cells up to it may have been written).</returns>
    public static int Cells(ReadOnlySpan<int> labels, ReadOnlySpan<int> predictions, int classes, Span<int> cells, KernelPath path)
    {
        int n = labels.Length;
        if (predictions.Length != n || cells.Length < n) throw new ArgumentException("length mismatch");
        if (n == 0) return -1;
        ref int l = ref MemoryMarshal.GetReference(labels);
        ref int q = ref MemoryMarshal.GetReference(predictions);
        ref int c = ref MemoryMarshal.GetReference(cells);
        uint uc = (uint)classes;
        switch (path)
        {
            case KernelPath.Vector512 when n >= Vector512<int>.Count:
            {
                var vc = Vector512.Create(uc);
                int last = n - Vector512<int>.Count;
                for (int i = 0; ; i += Vector512<int>.Count)
                {
                    if (i > last) { if (i == n) break; i = last; } // overlap the tail: rewrites are idempotent
                    var a = Vector512.LoadUnsafe(ref l, (nuint)i);
                    var b = Vector512.LoadUnsafe(ref q, (nuint)i);
                    var bad = Vector512.GreaterThanOrEqual(a.AsUInt32(), vc) | Vector512.GreaterThanOrEqual(b.AsUInt32(), vc);
                    if (bad != Vector512<uint>.Zero) return FirstBad(labels, predictions, classes, i);
                    (a * (int)uc + b).StoreUnsafe(ref c, (nuint)i);
                }
                return -1;
            }
            case KernelPath.Vector256 or KernelPath.Vector512 when n >= Vector256<int>.Count:
            {
                var vc = Vector256.Create(uc);
                int last = n - Vector256<int>.Count;
                for (int i = 0; ; i += Vector256<int>.Count)
                {
                    if (i > last) { if (i == n) break; i = last; }
                    var a = Vector256.LoadUnsafe(ref l, (nuint)i);
                    var b = Vector256.LoadUnsafe(ref q, (nuint)i);
                    var bad = Vector256.GreaterThanOrEqual(a.AsUInt32(), vc) | Vector256.GreaterThanOrEqual(b.AsUInt32(), vc);
                    if (bad != Vector256<uint>.Zero) return FirstBad(labels, predictions, classes, i);
                    (a * (int)uc + b).StoreUnsafe(ref c, (nuint)i);
                }
                return -1;
            }
            case KernelPath.Vector128 or KernelPath.Vector256 or KernelPath.Vector512 when n >= Vector128<int>.Count:
            {
                var vc = Vector128.Create(uc);
                int last = n - Vector128<int>.Count;
                for (int i = 0; ; i += Vector128<int>.Count)
                {
                    if (i > last) { if (i == n) break; i = last; }
                    var a = Vector128.LoadUnsafe(ref l, (nuint)i);
                    var b = Vector128.LoadUnsafe(ref q, (nuint)i);
                    var bad = Vector128.GreaterThanOrEqual(a.AsUInt32(), vc) | Vector128.GreaterThanOrEqual(b.AsUInt32(), vc);
                    if (bad != Vector128<uint>.Zero) return FirstBad(labels, predictions, classes, i);
                    (a * (int)uc + b).StoreUnsafe(ref c, (nuint)i);
                }
                return -1;
            }
            default:
                return CellsScalar(labels, predictions, classes, cells);
        }
    }

    /// <summary>Scalar reference of <see cref="Cells(ReadOnlySpan{int}, ReadOnlySpan{int}, int, Span{int}, KernelPath)"/>.</summary>
    internal static int CellsScalar(ReadOnlySpan<int> labels, ReadOnlySpan<int> predictions, int classes, Span<int> cells)
    {
        for (int i = 0; i < labels.Length; i++)
        {
            int a = labels[i], b = predictions[i];
            if ((uint)a >= (uint)classes || (uint)b >= (uint)classes) return i;
            cells[i] = a * classes + b;
        }
        return -1;
    }

    /// <summary>64-bit inputs: same contract as the 32-bit overload.</summary>
    public static int Cells(ReadOnlySpan<long> labels, ReadOnlySpan<long> predictions, int classes, Span<int> cells, KernelPath path)
    {
        int n = labels.Length;
        if (predictions.Length != n || cells.Length < n) throw new ArgumentException("length mismatch");
        if (n == 0) return -1;
        ref long l = ref MemoryMarshal.GetReference(labels);
        ref long q = ref MemoryMarshal.GetReference(predictions);
        ref int c = ref MemoryMarshal.GetReference(cells);
        ulong uc = (uint)classes;
        switch (path)
        {
            case KernelPath.Vector512 when n >= Vector512<int>.Count:
            {
                const int W = 8; // longs per Vector512
                var vc = Vector512.Create(uc);
                int last = n - 2 * W;
                for (int i = 0; ; i += 2 * W)
                {
                    if (i > last) { if (i == n) break; i = last; }
                    var a0 = Vector512.LoadUnsafe(ref l, (nuint)i).AsUInt64();
                    var a1 = Vector512.LoadUnsafe(ref l, (nuint)(i + W)).AsUInt64();
                    var b0 = Vector512.LoadUnsafe(ref q, (nuint)i).AsUInt64();
                    var b1 = Vector512.LoadUnsafe(ref q, (nuint)(i + W)).AsUInt64();
                    var bad = Vector512.GreaterThanOrEqual(a0, vc) | Vector512.GreaterThanOrEqual(a1, vc)
                        | Vector512.GreaterThanOrEqual(b0, vc) | Vector512.GreaterThanOrEqual(b1, vc);
                    if (bad != Vector512<ulong>.Zero) return FirstBad(labels, predictions, classes, i);
                    var a = Vector512.Narrow(a0, a1).AsInt32();
                    var b = Vector512.Narrow(b0, b1).AsInt32();
                    (a * classes + b).StoreUnsafe(ref c, (nuint)i);
                }
                return -1;
            }
            case KernelPath.Vector256 or KernelPath.Vector512 when n >= Vector256<int>.Count:
            {
                const int W = 4;
                var vc = Vector256.Create(uc);
                int last = n - 2 * W;
                for (int i = 0; ; i += 2 * W)
                {
                    if (i > last) { if (i == n) break; i = last; }
                    var a0 = Vector256.LoadUnsafe(ref l, (nuint)i).AsUInt64();
                    var a1 = Vector256.LoadUnsafe(ref l, (nuint)(i + W)).AsUInt64();
                    var b0 = Vector256.LoadUnsafe(ref q, (nuint)i).AsUInt64();
                    var b1 = Vector256.LoadUnsafe(ref q, (nuint)(i + W)).AsUInt64();
                    var bad = Vector256.GreaterThanOrEqual(a0, vc) | Vector256.GreaterThanOrEqual(a1, vc)
                        | Vector256.GreaterThanOrEqual(b0, vc) | Vector256.GreaterThanOrEqual(b1, vc);
                    if (bad != Vector256<ulong>.Zero) return FirstBad(labels, predictions, classes, i);
                    var a = Vector256.Narrow(a0, a1).AsInt32();
                    var b = Vector256.Narrow(b0, b1).AsInt32();
                    (a * classes + b).StoreUnsafe(ref c, (nuint)i);
                }
                return -1;
            }
            case KernelPath.Vector128 or KernelPath.Vector256 or KernelPath.Vector512 when n >= Vector128<int>.Count:
            {
                const int W = 2;
                var vc = Vector128.Create(uc);
                int last = n - 2 * W;
                for (int i = 0; ; i += 2 * W)
                {
                    if (i > last) { if (i == n) break; i = last; }
                    var a0 = Vector128.LoadUnsafe(ref l, (nuint)i).AsUInt64();
                    var a1 = Vector128.LoadUnsafe(ref l, (nuint)(i + W)).AsUInt64();
                    var b0 = Vector128.LoadUnsafe(ref q, (nuint)i).AsUInt64();
                    var b1 = Vector128.LoadUnsafe(ref q, (nuint)(i + W)).AsUInt64();
                    var bad = Vector128.GreaterThanOrEqual(a0, vc) | Vector128.GreaterThanOrEqual(a1, vc)
                        | Vector128.GreaterThanOrEqual(b0, vc) | Vector128.GreaterThanOrEqual(b1, vc);
                    if (bad != Vector128<ulong>.Zero) return FirstBad(labels, predictions, classes, i);
                    var a = Vector128.Narrow(a0, a1).AsInt32();
                    var b = Vector128.Narrow(b0, b1).AsInt32();
                    (a * classes + b).StoreUnsafe(ref c, (nuint)i);
                }
                return -1;
            }
            default:
                return CellsScalar(labels, predictions, classes, cells);
        }
    }

    /// <summary>Scalar reference of the 64-bit overload.</summary>
    internal static int CellsScalar(ReadOnlySpan<long> labels, ReadOnlySpan<long> predictions, int classes, Span<int> cells)
    {
        for (int i = 0; i < labels.Length; i++)
        {
            long a = labels[i], b = predictions[i];
            if ((ulong)a >= (ulong)classes || (ulong)b >= (ulong)classes) return i;
            cells[i] = (int)a * classes + (int)b;
        }
        return -1;
    }

    private static int FirstBad<T>(ReadOnlySpan<T> labels, ReadOnlySpan<T> predictions, int classes, int from)
        where T : struct, System.Numerics.IBinaryInteger<T>
    {
        var c = T.CreateTruncating(classes);
        for (int i = from; i < labels.Length; i++)
        {
            if (T.IsNegative(labels[i]) || labels[i] >= c || T.IsNegative(predictions[i]) || predictions[i] >= c) return i;
        }
        return -1; // unreachable when the vector check fired
    }

    /// <summary>
    /// Adds one count per cell index into four interleaved 32-bit sub-histograms of <c>classes * classes</c> cells each.
    /// </summary>
    public static void CountSub(ReadOnlySpan<int> cells, Span<int> sub, int cellCount)
    {
        ref int h = ref MemoryMarshal.GetReference(sub);
        ref int h1 = ref Unsafe.Add(ref h, cellCount);
        ref int h2 = ref Unsafe.Add(ref h, 2 * cellCount);
        ref int h3 = ref Unsafe.Add(ref h, 3 * cellCount);
        ref int c = ref MemoryMarshal.GetReference(cells);
        int n = cells.Length, i = 0;
        for (; i <= n - 4; i += 4)
        {
            Unsafe.Add(ref h, Unsafe.Add(ref c, i))++;
            Unsafe.Add(ref h1, Unsafe.Add(ref c, i + 1))++;
            Unsafe.Add(ref h2, Unsafe.Add(ref c, i + 2))++;
            Unsafe.Add(ref h3, Unsafe.Add(ref c, i + 3))++;
        }
        for (; i < n; i++) Unsafe.Add(ref h, Unsafe.Add(ref c, i))++;
    }

    /// <summary>Adds <paramref name="delta"/> per cell index straight into the 64-bit matrix (large class counts).</summary>
    public static void CountDirect(ReadOnlySpan<int> cells, Span<long> counts, long delta)
    {
        ref long h = ref MemoryMarshal.GetReference(counts);
        foreach (int cell in cells) Unsafe.Add(ref h, cell) += delta;
    }

    /// <summary>Adds the four sub-histograms into <paramref name="counts"/> and zeroes them.</summary>
    public static void Flush(Span<int> sub, Span<long> counts)
    {
        int m = counts.Length;
        for (int s = 0; s < SubHistograms; s++)
        {
            var part = sub.Slice(s * m, m);
            for (int k = 0; k < m; k++) counts[k] += part[k];
            part.Clear();
        }
    }
}
