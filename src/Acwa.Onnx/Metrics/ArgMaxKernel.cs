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
/// For <c>classes &gt;= 4</c> on x86 the columns are instead obtained without gathers: each row contributes a 128-bit load
/// of 4 consecutive logits, and a 4x4 transpose inside every 128-bit lane turns 4 such registers into 4 column vectors
/// whose lane i is row i of the block (when C is not a multiple of 4 the final group overlaps the previous one and its
/// already-seen columns are skipped). NaN is detected cheaply by a per-lane
/// running sum (NaN stays NaN); lanes whose sum is NaN are re-checked exactly, because <c>inf + -inf</c> is NaN too.
/// </summary>
[SkipLocalsInit]
internal static unsafe class ArgMaxKernel
{
    /// <summary>Writes the argmax of each row into <paramref name="predictions"/>; NaN rows get -1.</summary>
    /// <returns>True when at least one row contained NaN.</returns>
    public static bool Run(ReadOnlySpan<float> logits, int classes, Span<int> predictions, KernelPath path) =>
        Run(logits, classes, predictions, path, allowTransposed: true);

    /// <summary>As <see cref="Run(ReadOnlySpan{float}, int, Span{int}, KernelPath)"/> but always with the strided-gather
    /// variant of <paramref name="path"/> (tests and benchmarks compare both variants).</summary>
    public static bool RunGather(ReadOnlySpan<float> logits, int classes, Span<int> predictions, KernelPath path) =>
        Run(logits, classes, predictions, path, allowTransposed: false);

    private static bool Run(ReadOnlySpan<float> logits, int classes, Span<int> predictions, KernelPath path, bool allowTransposed)
    {
        int rows = predictions.Length;
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, "must be positive");
        if ((long)rows * classes != logits.Length)
            throw new ArgumentException($"logits length {logits.Length} != rows {rows} x classes {classes}");
        if (rows == 0) return false;
        fixed (float* p = logits)
        fixed (int* o = predictions)
        {
            if (allowTransposed && classes >= 4)
            {
                switch (path)
                {
                    case KernelPath.Vector512 when Avx512F.IsSupported && rows >= 16: return Transposed512(p, rows, classes, o);
                    case KernelPath.Vector256 or KernelPath.Vector512 when Avx.IsSupported && rows >= 8: return Transposed256(p, rows, classes, o);
                    case KernelPath.Vector128 or KernelPath.Vector256 or KernelPath.Vector512 when Sse2.IsSupported && rows >= 4:
                        return Transposed128(p, rows, classes, o);
                }
            }
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

    // ---- Transposed (gather-free) kernels, classes >= 4 ----

    private static bool Transposed512(float* p, int rows, int classes, int* o)
    {
        const int L = 16;
        long C = classes;
        var lane1 = Vector512.Create(0, 0, 0, 0, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0).AsSingle();
        var lane2 = Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, 0, 0, 0, 0).AsSingle();
        var lane3 = Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1).AsSingle();
        bool anyNan = false;
        int r = 0;
        while (true)
        {
            if (r > rows - L) { if (r == rows) break; r = rows - L; }
            float* b = p + r * C;
            var max = Vector512.Create(float.NegativeInfinity);
            var sum = Vector512<float>.Zero;
            var idx = Vector512<int>.Zero;
            int seen = 0;
            for (int j = 0; ; j += 4)
            {
                if (j > classes - 4) { if (j == classes) break; j = classes - 4; }
                // R_a, 128-bit lane q = row 4q + a, columns j..j+3 (broadcast loads + blends keep shuffles off port 5)
                float* c = b + j;
                var r0 = Row4x(c, 0 * C, C, lane1, lane2, lane3);
                var r1 = Row4x(c, 1 * C, C, lane1, lane2, lane3);
                var r2 = Row4x(c, 2 * C, C, lane1, lane2, lane3);
                var r3 = Row4x(c, 3 * C, C, lane1, lane2, lane3);
                var t0 = Avx512F.UnpackLow(r0, r1);
                var t1 = Avx512F.UnpackHigh(r0, r1);
                var t2 = Avx512F.UnpackLow(r2, r3);
                var t3 = Avx512F.UnpackHigh(r2, r3);
                var x0 = Avx512F.UnpackLow(t0.AsDouble(), t2.AsDouble()).AsSingle();
                var x1 = Avx512F.UnpackHigh(t0.AsDouble(), t2.AsDouble()).AsSingle();
                var x2 = Avx512F.UnpackLow(t1.AsDouble(), t3.AsDouble()).AsSingle();
                var x3 = Avx512F.UnpackHigh(t1.AsDouble(), t3.AsDouble()).AsSingle();
                // The last group may overlap columns already seen (C not a multiple of 4): skip those.
                int first = seen - j;
                if (first <= 0) Step(x0, j, ref max, ref idx);
                if (first <= 1) Step(x1, j + 1, ref max, ref idx);
                if (first <= 2) Step(x2, j + 2, ref max, ref idx);
                Step(x3, j + 3, ref max, ref idx);
                seen = j + 4;
                sum += (x0 + x1) + (x2 + x3);
            }
            idx.Store(o + r);
            var suspicious = ~Vector512.Equals(sum, sum);
            if (suspicious != Vector512<float>.Zero) anyNan |= FixNanLanes(p, r, L, classes, o, (uint)suspicious.AsInt32().ExtractMostSignificantBits());
            r += L;
        }
        return anyNan;

        static void Step(Vector512<float> x, int j, ref Vector512<float> max, ref Vector512<int> idx)
        {
            var gt = Vector512.GreaterThan(x, max);
            idx = Vector512.ConditionalSelect(gt.AsInt32(), Vector512.Create(j), idx);
            max = Avx512F.Max(max, x); // NaN-free lanes only matter; NaN lanes are fixed up afterwards
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Row4x(float* c, long row, long stride, Vector512<float> lane1, Vector512<float> lane2, Vector512<float> lane3)
    {
        var v = Avx512F.BroadcastVector128ToVector512(c + row);
        v = Vector512.ConditionalSelect(lane1, Avx512F.BroadcastVector128ToVector512(c + row + 4 * stride), v);
        v = Vector512.ConditionalSelect(lane2, Avx512F.BroadcastVector128ToVector512(c + row + 8 * stride), v);
        return Vector512.ConditionalSelect(lane3, Avx512F.BroadcastVector128ToVector512(c + row + 12 * stride), v);
    }

    private static bool Transposed256(float* p, int rows, int classes, int* o)
    {
        const int L = 8;
        long C = classes;
        bool anyNan = false;
        int r = 0;
        while (true)
        {
            if (r > rows - L) { if (r == rows) break; r = rows - L; }
            float* b = p + r * C;
            var max = Vector256.Create(float.NegativeInfinity);
            var sum = Vector256<float>.Zero;
            var idx = Vector256<int>.Zero;
            int seen = 0;
            for (int j = 0; ; j += 4)
            {
                if (j > classes - 4) { if (j == classes) break; j = classes - 4; }
                float* c = b + j;
                var r0 = Vector256.Create(Vector128.Load(c), Vector128.Load(c + 4 * C));
                var r1 = Vector256.Create(Vector128.Load(c + C), Vector128.Load(c + 5 * C));
                var r2 = Vector256.Create(Vector128.Load(c + 2 * C), Vector128.Load(c + 6 * C));
                var r3 = Vector256.Create(Vector128.Load(c + 3 * C), Vector128.Load(c + 7 * C));
                var t0 = Avx.UnpackLow(r0, r1);
                var t1 = Avx.UnpackHigh(r0, r1);
                var t2 = Avx.UnpackLow(r2, r3);
                var t3 = Avx.UnpackHigh(r2, r3);
                var x0 = Avx.UnpackLow(t0.AsDouble(), t2.AsDouble()).AsSingle();
                var x1 = Avx.UnpackHigh(t0.AsDouble(), t2.AsDouble()).AsSingle();
                var x2 = Avx.UnpackLow(t1.AsDouble(), t3.AsDouble()).AsSingle();
                var x3 = Avx.UnpackHigh(t1.AsDouble(), t3.AsDouble()).AsSingle();
                // The last group may overlap columns already seen (C not a multiple of 4): skip those.
                int first = seen - j;
                if (first <= 0) Step(x0, j, ref max, ref idx);
                if (first <= 1) Step(x1, j + 1, ref max, ref idx);
                if (first <= 2) Step(x2, j + 2, ref max, ref idx);
                Step(x3, j + 3, ref max, ref idx);
                seen = j + 4;
                sum += (x0 + x1) + (x2 + x3);
            }
            idx.Store(o + r);
            var suspicious = ~Vector256.Equals(sum, sum);
            if (suspicious != Vector256<float>.Zero) anyNan |= FixNanLanes(p, r, L, classes, o, (uint)suspicious.AsInt32().ExtractMostSignificantBits());
            r += L;
        }
        return anyNan;

        static void Step(Vector256<float> x, int j, ref Vector256<float> max, ref Vector256<int> idx)
        {
            var gt = Vector256.GreaterThan(x, max);
            idx = Vector256.ConditionalSelect(gt.AsInt32(), Vector256.Create(j), idx);
            max = Avx.Max(max, x);
        }
    }

    private static bool Transposed128(float* p, int rows, int classes, int* o)
    {
        const int L = 4;
        long C = classes;
        bool anyNan = false;
        int r = 0;
        while (true)
        {
            if (r > rows - L) { if (r == rows) break; r = rows - L; }
            float* b = p + r * C;
            var max = Vector128.Create(float.NegativeInfinity);
            var sum = Vector128<float>.Zero;
            var idx = Vector128<int>.Zero;
            int seen = 0;
            for (int j = 0; ; j += 4)
            {
                if (j > classes - 4) { if (j == classes) break; j = classes - 4; }
                float* c = b + j;
                var r0 = Vector128.Load(c);
                var r1 = Vector128.Load(c + C);
                var r2 = Vector128.Load(c + 2 * C);
                var r3 = Vector128.Load(c + 3 * C);
                var t0 = Sse.UnpackLow(r0, r1);
                var t1 = Sse.UnpackHigh(r0, r1);
                var t2 = Sse.UnpackLow(r2, r3);
                var t3 = Sse.UnpackHigh(r2, r3);
                var x0 = Sse2.UnpackLow(t0.AsDouble(), t2.AsDouble()).AsSingle();
                var x1 = Sse2.UnpackHigh(t0.AsDouble(), t2.AsDouble()).AsSingle();
                var x2 = Sse2.UnpackLow(t1.AsDouble(), t3.AsDouble()).AsSingle();
                var x3 = Sse2.UnpackHigh(t1.AsDouble(), t3.AsDouble()).AsSingle();
                // The last group may overlap columns already seen (C not a multiple of 4): skip those.
                int first = seen - j;
                if (first <= 0) Step(x0, j, ref max, ref idx);
                if (first <= 1) Step(x1, j + 1, ref max, ref idx);
                if (first <= 2) Step(x2, j + 2, ref max, ref idx);
                Step(x3, j + 3, ref max, ref idx);
                seen = j + 4;
                sum += (x0 + x1) + (x2 + x3);
            }
            idx.Store(o + r);
            var suspicious = ~Vector128.Equals(sum, sum);
            if (suspicious != Vector128<float>.Zero) anyNan |= FixNanLanes(p, r, L, classes, o, (uint)suspicious.AsInt32().ExtractMostSignificantBits());
            r += L;
        }
        return anyNan;

        static void Step(Vector128<float> x, int j, ref Vector128<float> max, ref Vector128<int> idx)
        {
            var gt = Vector128.GreaterThan(x, max);
            idx = Vector128.ConditionalSelect(gt.AsInt32(), Vector128.Create(j), idx);
            max = Sse.Max(max, x);
        }
    }

    // Lanes whose running sum is NaN: the row holds NaN, or +inf and -inf (or overflowed); decide exactly.
    private static bool FixNanLanes(float* p, int r, int lanes, int classes, int* o, uint laneBits)
    {
        bool anyNan = false;
        for (int i = 0; i < lanes; i++)
        {
            if ((laneBits & (1u << i)) == 0) continue;
            RunScalar(p, r + i, r + i + 1, classes, o);
            anyNan |= o[r + i] < 0;
        }
        return anyNan;
    }
}
