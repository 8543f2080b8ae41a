using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Acwa.Onnx.Metrics;

/// <summary>
/// Row-wise argmax of row-major fp32 logits <c>[rows x classes]</c>, vectorised across rows: each vector lane owns one
/// row; column <c>j</c> of a block of rows is loaded with a strided gather (AVX2 <c>vgatherdps</c>, or element inserts
/// where AVX2 is missing) and a running max / argmax is kept per lane. Semantics match <c>numpy.argmax</c> for rows
/// without NaN: ties go to the lowest index (strict <c>&gt;</c> comparison), infinities compare normally, a row of all
/// <c>-inf</c> gives 0. A row containing NaN gets prediction <c>-1</c> and the kernel reports that it saw one.
/// </summary>
[SkipLocalsInit]
internal static unsafe class ArgMaxKernel
{
    /// <summary>Writes the argmax of each row into <paramref name="predictions"/>; NaN rows get -1.</summary>
    /// <returns>True when at least one row contained NaN.</returns>
    public static bool Run(ReadOnlySpan<float> logits, int classes, Span<int> predictions, KernelPath path)
    {
        int rows = predictions.Length;
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, "must be positive");
        if ((long)rows * classes != logits.Length)
            throw new ArgumentException($"logits length {logits.Length} != rows {rows} x classes {classes}");
        if (rows == 0) return false;
        fixed (float* p = logits)
        fixed (int* o = predictions)
        {
            return path switch
            {
                KernelPath.Vector512 => Run512(p, rows, classes, o),
                KernelPath.Vector256 => Run256(p, rows, classes, o),
                KernelPath.Vector128 => Run128(p, rows, classes, o),
                _ => RunScalar(p, 0, rows, classes, o),
            };
        }
    }

    /// <summary>Scalar reference: one row at a time, rows [<paramref name="start"/>, <paramref name="end"/>).</summary>
    internal static bool RunScalar(float* p, int start, int end, int classes, int* o)
    {
        bool anyNan = false;
        for (int r = start; r < end; r++)
        {
            float* row = p + (long)r * classes;
            float max = row[0];
            int idx = 0;
            bool nan = float.IsNaN(max);
            for (int j = 1; j < classes; j++)
            {
                float x = row[j];
                if (x > max) { max = x; idx = j; }
                nan |= float.IsNaN(x);
            }
            o[r] = nan ? -1 : idx;
            anyNan |= nan;
        }
        return anyNan;
    }

    private static bool Run512(float* p, int rows, int classes, int* o)
    {
        const int L = 16;
        if (rows < L) return Run256(p, rows, classes, o);
        var offsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * classes;
        var acc = Vector512<int>.Zero;
        int r = 0;
        while (true)
        {
            if (r > rows - L) { if (r == rows) break; r = rows - L; } // overlap the last block: rewrites are idempotent
            float* b = p + (long)r * classes;
            var max = Gather512(b, offsets, classes);
            var idx = Vector512<int>.Zero;
            var nan = ~Vector512.Equals(max, max);
            for (int j = 1; j < classes; j++)
            {
                var x = Gather512(b + j, offsets, classes);
                var gt = Vector512.GreaterThan(x, max);
                max = Vector512.ConditionalSelect(gt, x, max);
                idx = Vector512.ConditionalSelect(gt.AsInt32(), Vector512.Create(j), idx);
                nan |= ~Vector512.Equals(x, x);
            }
            idx |= nan.AsInt32(); // NaN lanes become -1
            acc |= nan.AsInt32();
            idx.Store(o + r);
            r += L;
        }
        return acc != Vector512<int>.Zero;
    }

    private static bool Run256(float* p, int rows, int classes, int* o)
    {
        const int L = 8;
        if (rows < L) return Run128(p, rows, classes, o);
        var offsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * classes;
        var acc = Vector256<int>.Zero;
        int r = 0;
        while (true)
        {
            if (r > rows - L) { if (r == rows) break; r = rows - L; }
            float* b = p + (long)r * classes;
            var max = Gather256(b, offsets, classes);
            var idx = Vector256<int>.Zero;
            var nan = ~Vector256.Equals(max, max);
            for (int j = 1; j < classes; j++)
            {
                var x = Gather256(b + j, offsets, classes);
                var gt = Vector256.GreaterThan(x, max);
                max = Vector256.ConditionalSelect(gt, x, max);
                idx = Vector256.ConditionalSelect(gt.AsInt32(), Vector256.Create(j), idx);
                nan |= ~Vector256.Equals(x, x);
            }
            idx |= nan.AsInt32();
            acc |= nan.AsInt32();
            idx.Store(o + r);
            r += L;
        }
        return acc != Vector256<int>.Zero;
    }

    private static bool Run128(float* p, int rows, int classes, int* o)
    {
        const int L = 4;
        if (rows < L) return RunScalar(p, 0, rows, classes, o);
        var offsets = Vector128.Create(0, 1, 2, 3) * classes;
        var acc = Vector128<int>.Zero;
        int r = 0;
        while (true)
        {
            if (r > rows - L) { if (r == rows) break; r = rows - L; }
            float* b = p + (long)r * classes;
            var max = Gather128(b, offsets, classes);
            var idx = Vector128<int>.Zero;
            var nan = ~Vector128.Equals(max, max);
            for (int j = 1; j < classes; j++)
            {
                var x = Gather128(b + j, offsets, classes);
                var gt = Vector128.GreaterThan(x, max);
                max = Vector128.ConditionalSelect(gt, x, max);
                idx = Vector128.ConditionalSelect(gt.AsInt32(), Vector128.Create(j), idx);
                nan |= ~Vector128.Equals(x, x);
            }
            idx |= nan.AsInt32();
            acc |= nan.AsInt32();
            idx.Store(o + r);
            r += L;
        }
        return acc != Vector128<int>.Zero;
    }

    // Loads b[0], b[stride], ..., b[15*stride]: two AVX2 gathers (no 512-bit gather is exposed by .NET).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Gather512(float* b, Vector256<int> offsets8, int stride)
    {
        if (Avx2.IsSupported)
            return Vector512.Create(Avx2.GatherVector256(b, offsets8, 4), Avx2.GatherVector256(b + 8L * stride, offsets8, 4));
        return Vector512.Create(Gather256(b, offsets8, stride), Gather256(b + 8L * stride, offsets8, stride));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Gather256(float* b, Vector256<int> offsets, int stride)
    {
        if (Avx2.IsSupported) return Avx2.GatherVector256(b, offsets, 4);
        long s = stride;
        return Vector256.Create(b[0], b[s], b[2 * s], b[3 * s], b[4 * s], b[5 * s], b[6 * s], b[7 * s]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Gather128(float* b, Vector128<int> offsets, int stride)
    {
        if (Avx2.IsSupported) return Avx2.GatherVector128(b, offsets, 4);
        long s = stride;
        return Vector128.Create(b[0], b[s], b[2 * s], b[3 * s]);
    }
}
