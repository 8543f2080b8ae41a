using Acwa.Onnx.Metrics;
using Xunit.Abstractions;

namespace Acwa.Onnx.Tests.Metrics;

public class KernelTests(ITestOutputHelper output)
{
    /// <summary>
    /// Every kernel path on every machine: a path the CPU does not accelerate runs on .NET's software vectors (and the
    /// kernels' intrinsics are guarded by IsSupported), so it is checked here too, only slower. Checked with
    /// DOTNET_EnableHWIntrinsic=0 (scalar hardware only): all paths pass.
    /// </summary>
    public static TheoryData<string> Paths()
    {
        var d = new TheoryData<string>();
        foreach (var p in Enum.GetValues<KernelPath>()) d.Add(p.ToString());
        return d;
    }

    [Fact]
    public void DispatchPicksWidestAcceleratedPath()
    {
        var widest = KernelDispatch.Supported.Max();
        Assert.Equal(widest, KernelDispatch.Best);
        output.WriteLine($"best path here: {KernelDispatch.Best}; supported: {string.Join(", ", KernelDispatch.Supported)}");
    }

    [Theory, MemberData(nameof(Paths))]
    public void BFloat16ConversionMatchesTheScalarReferenceForEveryBitPatternAndLength(string pathName)
    {
        var path = Enum.Parse<KernelPath>(pathName);
        // All 65,536 patterns (NaNs, infinities, subnormals, signed zeros) in one span, then every short length and offset.
        var bits = Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();
        var got = new float[bits.Length];
        BFloat16Kernel.ToSingle(bits, got, path);
        for (int i = 0; i < bits.Length; i++)
        {
            float expected = BitConverter.Int32BitsToSingle(i << 16);
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(got[i]), $"pattern 0x{i:X4}: {got[i]} != {expected}");
        }
        Assert.Equal(1.0f, got[0x3F80]);
        Assert.Equal(-2.0f, got[0xC000]);
        Assert.True(float.IsPositiveInfinity(got[0x7F80]) && float.IsNaN(got[0x7FC0]));
        for (int off = 0; off < 3; off++)
            for (int n = 0; n <= 70; n++)
            {
                var src = bits.AsSpan(0x3F00 + off, n);
                var a = new float[n + 1];
                var b = new float[n + 1];
                a[n] = b[n] = 42f; // nothing past the end is written
                BFloat16Kernel.ToSingle(src, a.AsSpan(0, n), path);
                BFloat16Kernel.ToSingle(src, b.AsSpan(0, n), KernelPath.Scalar);
                Assert.Equal(b, a);
            }
        Assert.Throws<ArgumentException>(() => BFloat16Kernel.ToSingle(bits.AsSpan(0, 4), new float[3], path));
    }

    [Theory, MemberData(nameof(Paths))]
    public void ArgMaxMatchesScalarAndBruteForceForAllLengthsAndClassCounts(string pathName)
    {
        var path = Enum.Parse<KernelPath>(pathName);
        foreach (int C in MetricsTestData.ClassCounts)
        {
            // One buffer per class count; every length n uses rows [off, off + n) so alignment varies too.
            const int extra = 3;
            var logits = MetricsTestData.Logits(MetricsTestData.MaxLength + extra, C, seed: C);
            var expected = new int[MetricsTestData.MaxLength + extra];
            for (int r = 0; r < expected.Length; r++) expected[r] = MetricsTestData.BruteArgMax(logits.AsSpan(r * C, C));
            var got = new int[MetricsTestData.MaxLength];
            var reference = new int[MetricsTestData.MaxLength];
            var gathered = new int[MetricsTestData.MaxLength];
            for (int n = 0; n <= MetricsTestData.MaxLength; n++)
            {
                int off = n % (extra + 1);
                var x = logits.AsSpan(off * C, n * C);
                Assert.False(ArgMaxKernel.Run(x, C, got.AsSpan(0, n), path));             // transposed variant where C >= 4
                Assert.False(ArgMaxKernel.RunGather(x, C, gathered.AsSpan(0, n), path));  // strided-gather variant
                Assert.False(ArgMaxKernel.Run(x, C, reference.AsSpan(0, n), KernelPath.Scalar));
                if (!got.AsSpan(0, n).SequenceEqual(expected.AsSpan(off, n)) || !reference.AsSpan(0, n).SequenceEqual(got.AsSpan(0, n))
                    || !gathered.AsSpan(0, n).SequenceEqual(got.AsSpan(0, n)))
                    Assert.Fail($"{path}: C={C} n={n} offset={off}: argmax differs from brute force");
            }
        }
    }

    [Theory, MemberData(nameof(Paths))]
    public void ArgMaxTiesGoToLowestIndexAndInfinitiesCompareNormally(string pathName)
    {
        var path = Enum.Parse<KernelPath>(pathName);
        float inf = float.PositiveInfinity, ninf = float.NegativeInfinity;
        float[][] rows =
        [
            [1, 1, 1, 1], [0, 2, 2, 1], [inf, inf, 0, 0], [ninf, ninf, ninf, ninf], [ninf, 0, inf, inf],
            [-0f, 0f, 0, 0], [0, 0, 0, 3], [5, 4, 3, 2], [ninf, -1e38f, ninf, -1e38f],
        ];
        int[] expected = [0, 1, 0, 0, 2, 0, 3, 0, 1];
        // Repeat so the rows land in every lane of every vector width.
        for (int shift = 0; shift < 16; shift++)
        {
            int n = rows.Length + shift;
            var x = new float[n * 4];
            var exp = new int[n];
            for (int r = 0; r < n; r++)
            {
                int k = (r + shift) % rows.Length;
                rows[k].CopyTo(x, r * 4);
                exp[r] = expected[k];
            }
            var got = new int[n];
            Assert.False(ArgMaxKernel.Run(x, 4, got, path));
            Assert.Equal(exp, got);
            Assert.False(ArgMaxKernel.RunGather(x, 4, got, path));
            Assert.Equal(exp, got);
        }
    }

    [Theory, MemberData(nameof(Paths))]
    public void ArgMaxMarksNaNRowsInEveryLane(string pathName)
    {
        var path = Enum.Parse<KernelPath>(pathName);
        foreach (int C in new[] { 1, 3, 10 })
        {
            const int n = 41;
            var x = MetricsTestData.Logits(n, C, seed: 7);
            var baseline = new int[n];
            ArgMaxKernel.Run(x, C, baseline, KernelPath.Scalar);
            for (int r = 0; r < n; r++)
            {
                for (int j = 0; j < C; j += Math.Max(1, C - 1))
                {
                    var y = (float[])x.Clone();
                    y[r * C + j] = float.NaN;
                    var got = new int[n];
                    Assert.True(ArgMaxKernel.Run(y, C, got, path));
                    var exp = (int[])baseline.Clone();
                    exp[r] = -1;
                    Assert.Equal(exp, got);
                    Assert.True(ArgMaxKernel.RunGather(y, C, got, path));
                    Assert.Equal(exp, got);
                }
            }
        }
    }

    [Theory, MemberData(nameof(Paths))]
    public void CellsMatchScalarForIntAndLongAndFindFirstBadValue(string pathName)
    {
        var path = Enum.Parse<KernelPath>(pathName);
        foreach (int C in MetricsTestData.ClassCounts)
        {
            var y = MetricsTestData.Labels(MetricsTestData.MaxLength, C, 1);
            var p = MetricsTestData.Labels(MetricsTestData.MaxLength, C, 2);
            var yl = y.Select(v => (long)v).ToArray();
            var pl = p.Select(v => (long)v).ToArray();
            var got = new int[MetricsTestData.MaxLength];
            var gotL = new int[MetricsTestData.MaxLength];
            for (int n = 0; n <= MetricsTestData.MaxLength; n++)
            {
                Assert.Equal(-1, HistogramKernel.Cells(y.AsSpan(0, n), p.AsSpan(0, n), C, got, path));
                Assert.Equal(-1, HistogramKernel.Cells(yl.AsSpan(0, n), pl.AsSpan(0, n), C, gotL, path));
                for (int i = 0; i < n; i++)
                {
                    if (got[i] != y[i] * C + p[i] || gotL[i] != got[i]) Assert.Fail($"{path} C={C} n={n} i={i}");
                }
            }
            // a bad value at every position of a short span is found at its index, for labels and predictions
            for (int n = 1; n <= 40; n++)
            {
                for (int bad = 0; bad < n; bad++)
                {
                    foreach (var v in new long[] { -1, C, long.MaxValue, (long)int.MaxValue + 1 + C })
                    {
                        var yy = y.AsSpan(0, n).ToArray();
                        var pl2 = pl.AsSpan(0, n).ToArray();
                        pl2[bad] = v;
                        Assert.Equal(bad, HistogramKernel.Cells(yl.AsSpan(0, n), pl2, C, gotL, path));
                        if (v is >= int.MinValue and <= int.MaxValue)
                        {
                            yy[bad] = (int)v;
                            Assert.Equal(bad, HistogramKernel.Cells(yy, p.AsSpan(0, n), C, got, path));
                        }
                    }
                }
            }
        }
    }
}
