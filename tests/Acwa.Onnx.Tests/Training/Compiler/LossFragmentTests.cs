using Acwa.Onnx.Graphs;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Compiler.Losses;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Tests.Training.Compiler;

public class LossFragmentTests
{
    private const int N = 6, C = 4;

    /// <summary>A graph z [N, C], y [N] -> loss, dz with the loss's control inputs.</summary>
    private static (Ort Session, IReadOnlyList<ControlInput> Controls) Build(ArtifactOptions o)
    {
        var b = new GraphBuilder("loss");
        var z = b.Input("z", ElementType.Float, null, C);
        var y = b.Input("y", ElementType.Int64, [null]);
        var lg = LossFragment.Append(b, o, z, y, C);
        b.OutputAs(lg.Loss, "loss", ElementType.Float);
        b.OutputAs(lg.DLogits, "dz", ElementType.Float, null, C);
        return (new Ort(OnnxModel.Create(b.Graph)), lg.Controls);
    }

    private static (float Loss, float[] Dz) Eval(Ort s, IReadOnlyList<ControlInput> controls, float[] z, long[] y, Dictionary<string, float[]> values)
    {
        var feeds = new List<NamedOnnxValue> { Ort.F("z", z, y.Length, C), Ort.L("y", y, y.Length) };
        foreach (var c in controls)
        {
            var v = values.TryGetValue(c.Role, out var x) ? x : c.Default;
            feeds.Add(Ort.F(c.Name, v, c.Shape.Select(d => (int)d).ToArray()));
        }
        var r = s.Run(feeds);
        return (((float[])r["loss"])[0], (float[])r["dz"]);
    }

    private static (float[] Z, long[] Y) RandomBatch(int seed, double scale = 2)
    {
        var rng = new Random(seed);
        var z = Enumerable.Range(0, N * C).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();
        var y = Enumerable.Range(0, N).Select(_ => (long)rng.Next(C)).ToArray();
        return (z, y);
    }

    private static double[] D(float[] a) => a.Select(v => (double)v).ToArray();

    private static void AssertClose(double expected, double actual, double rel, double abs, string what) =>
        Assert.True(Math.Abs(expected - actual) <= abs + rel * Math.Abs(expected), $"{what}: expected {expected}, got {actual}");

    private static void CheckLoss(ArtifactOptions o, Dictionary<string, float[]> values, Func<double[], long[], double> reference, int seed)
    {
        var (s, controls) = Build(o);
        using var _ = s;
        var (z, y) = RandomBatch(seed);
        var (loss, dz) = Eval(s, controls, z, y, values);
        // fp32 graph vs double reference: relative 1e-5.
        AssertClose(reference(D(z), y), loss, 1e-5, 1e-6, "loss");
        // closed-form dZ (fp32 graph) vs central differences (h = 1e-5) of the double reference: abs 2e-6 + rel 1e-4.
        var fd = LossReference.Fd(zz => reference(zz, y), D(z));
        for (int k = 0; k < fd.Length; k++) AssertClose(fd[k], dz[k], 1e-4, 2e-6, $"dz[{k}]");
    }

    private static readonly float[] Weights = [0.5f, 2f, 1.25f, 3f];

    [Fact]
    public void WeightedCrossEntropyMatchesReferenceAndFiniteDifferences() =>
        CheckLoss(new ArtifactOptions { Loss = LossKind.CrossEntropy }, new() { [ControlRoles.ClassWeights] = Weights },
            (z, y) => LossReference.WeightedCe(z, y, D(Weights), C), 1);

    [Theory]
    [InlineData(2.0f)]
    [InlineData(0.5f)]
    [InlineData(1.0f)]
    public void FocalMatchesReferenceAndFiniteDifferences(float gamma) =>
        CheckLoss(new ArtifactOptions { Loss = LossKind.Focal }, new() { [ControlRoles.ClassWeights] = Weights, [ControlRoles.FocalGamma] = [gamma] },
            (z, y) => LossReference.Focal(z, y, D(Weights), gamma, C), 2);

    [Fact]
    public void LdamMatchesReferenceAndFiniteDifferences()
    {
        float[] m = [0.5f, 0.3f, 0.42f, 0.1f];
        CheckLoss(new ArtifactOptions { Loss = LossKind.Ldam }, new() { [ControlRoles.ClassWeights] = Weights, [ControlRoles.LdamMargins] = m, [ControlRoles.LdamScale] = [5f] },
            (z, y) => LossReference.Ldam(z, y, D(Weights), D(m), 5, C), 3);
    }

    [Fact]
    public void LogitAdjustedMatchesReferenceAndFiniteDifferences()
    {
        var lp = LossMath.LogPrior([500, 50, 5, 200]);
        CheckLoss(new ArtifactOptions { Loss = LossKind.LogitAdjusted }, new() { [ControlRoles.ClassWeights] = Weights, [ControlRoles.LogPrior] = lp, [ControlRoles.LogitAdjustTau] = [1.5f] },
            (z, y) => LossReference.LogitAdjusted(z, y, D(Weights), D(lp), 1.5, C), 4);
    }

    [Theory]
    [InlineData(LossKind.CrossEntropy)]
    [InlineData(LossKind.Focal)]
    [InlineData(LossKind.Ldam)]
    [InlineData(LossKind.LogitAdjusted)]
    public void ExtremeLogitsGiveFiniteLossAndGradient(LossKind kind)
    {
        var (s, controls) = Build(new ArtifactOptions { Loss = kind, LdamMargins = [0.5f, 0.2f, 0.1f, 0.3f], LogPrior = [-1f, -2f, -3f, -0.5f] });
        using var _ = s;
        // Rows: confidently right, confidently wrong, -1e30 on non-target, -1e30 on the target, all equal huge.
        float[] z =
        [
            1e4f, -1e4f, 0f, -1e4f,
            -1e4f, 1e4f, 1e4f, 0f,
            0f, -1e30f, -1e30f, 3f,
            -1e30f, 1f, 2f, 3f,
            1e4f, 1e4f, 1e4f, 1e4f,
            -1e4f, -1e4f, -1e4f, -1e4f,
        ];
        long[] y = [0, 0, 3, 0, 2, 1];
        var (loss, dz) = Eval(s, controls, z, y, []);
        Assert.True(float.IsFinite(loss), $"{kind}: loss {loss}");
        Assert.All(dz, v => Assert.True(float.IsFinite(v), $"{kind}: dz {v}"));
        Assert.True(loss > 0);
    }

    [Fact]
    public void WeightedCeWithEqualWeightsEqualsUnweightedAndIsScaleInvariant()
    {
        var (s, controls) = Build(new ArtifactOptions());
        using var _ = s;
        var (z, y) = RandomBatch(5);
        var (l1, d1) = Eval(s, controls, z, y, new() { [ControlRoles.ClassWeights] = [1f, 1f, 1f, 1f] });
        var (l3, d3) = Eval(s, controls, z, y, new() { [ControlRoles.ClassWeights] = [3f, 3f, 3f, 3f] });
        // Unweighted mean CE computed directly.
        double mean = 0;
        for (int i = 0; i < N; i++) mean += -LossReference.LogSoftmax(D(z), N, C, i)[y[i]];
        mean /= N;
        AssertClose(mean, l1, 1e-5, 1e-6, "unweighted");
        AssertClose(l1, l3, 1e-6, 1e-7, "scaled weights");
        var (lw, dw) = Eval(s, controls, z, y, new() { [ControlRoles.ClassWeights] = Weights });
        var (lw10, dw10) = Eval(s, controls, z, y, new() { [ControlRoles.ClassWeights] = Weights.Select(w => w * 10f).ToArray() });
        AssertClose(lw, lw10, 1e-6, 1e-7, "weights x10");
        for (int k = 0; k < d1.Length; k++) { AssertClose(d1[k], d3[k], 1e-5, 1e-7, "dz equal"); AssertClose(dw[k], dw10[k], 1e-5, 1e-7, "dz x10"); }
        Assert.NotEqual(l1, lw, 3);
    }

    [Fact]
    public void FocalWithGammaZeroAndUnitAlphaEqualsCrossEntropy()
    {
        var (ce, cc) = Build(new ArtifactOptions());
        var (fo, fc) = Build(new ArtifactOptions { Loss = LossKind.Focal, FocalGamma = 0f });
        using var _1 = ce; using var _2 = fo;
        var (z, y) = RandomBatch(6);
        var (l1, d1) = Eval(ce, cc, z, y, []);
        var (l2, d2) = Eval(fo, fc, z, y, []);
        AssertClose(l1, l2, 1e-6, 1e-7, "loss");
        for (int k = 0; k < d1.Length; k++) AssertClose(d1[k], d2[k], 1e-5, 1e-7, $"dz[{k}]");
    }

    [Fact]
    public void PerClassDefaultsOfWrongLengthAreRejected()
    {
        var b = new GraphBuilder("bad");
        var z = b.Input("z", ElementType.Float, null, C);
        var y = b.Input("y", ElementType.Int64, [null]);
        var e = Assert.Throws<ArgumentException>(() => LossFragment.Append(b, new ArtifactOptions { ClassWeights = [1f, 2f] }, z, y, C));
        Assert.Contains("ClassWeights", e.Message);
        var e2 = Assert.Throws<ArgumentException>(() => LossFragment.Append(b, new ArtifactOptions { ClassWeights = [1f, -2f, 1f, 1f] }, z, y, C));
        Assert.Contains("ClassWeights[1]", e2.Message);
    }

    [Fact]
    public void LdamMarginsFollowInverseFourthRoot()
    {
        var m = LossMath.LdamMargins([10000, 625, 1]);
        Assert.Equal(0.5f, m[2], 6);
        Assert.Equal(0.05f, m[0], 6);
        Assert.Equal(0.1f, m[1], 6);
    }
}
