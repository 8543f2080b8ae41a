using Acwa.Onnx.Graphs;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Compiler.Optimizers;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Tests.Training.Compiler;

public class OptimizerFragmentTests
{
    private const int P = 5;

    /// <summary>A graph (p, g, controls, state) -> next state, for one parameter of shape [P] whose gradient is a graph input.</summary>
    private static (Ort Session, List<StateTensor> State, List<ControlInput> Controls) Build(ArtifactOptions o, float? clip = null)
    {
        var b = new GraphBuilder("opt");
        var reg = new StateRegistry(b);
        var p = b.Input("p", ElementType.Float, P);
        reg.Adopt(p, StateKind.Parameter, [P]);
        var g = b.Input("g", ElementType.Float, P);
        var controls = new List<ControlInput>();
        var c = OptimizerFragment.DeclareControls(b, o, controls);
        var grads = new[] { g };
        if (clip is { } m) grads = GradientTransforms.Clip(b, controls, grads, m).Grads;
        reg.Bind(p, OptimizerFragment.Update(b, o, c, reg, p, p, [P], grads[0], null));
        return (new Ort(OnnxModel.Create(b.Graph)), reg.Ordered(), controls);
    }

    /// <summary>Runs <paramref name="steps"/> optimizer steps with the given gradients, feeding state outputs back; returns the parameter after each step.</summary>
    private static List<float[]> RunSteps(ArtifactOptions o, float[] p0, float[][] grads, Func<int, float> lr, float? clip = null)
    {
        var (s, state, controls) = Build(o, clip);
        using var _ = s;
        var values = state.ToDictionary(t => t.Input, t => t.Kind == StateKind.Parameter ? (float[])p0.Clone() : new float[P]);
        var result = new List<float[]>();
        for (int t = 1; t <= grads.Length; t++)
        {
            var feeds = new List<NamedOnnxValue> { Ort.F("g", grads[t - 1], P) };
            foreach (var st in state) feeds.Add(Ort.F(st.Input, values[st.Input], P));
            foreach (var c in controls)
            {
                float v = c.Role switch
                {
                    ControlRoles.LearningRate => lr(t),
                    ControlRoles.AdamBias1 => 1f - MathF.Pow(o.Beta1, t),
                    ControlRoles.AdamBias2 => 1f - MathF.Pow(o.Beta2, t),
                    ControlRoles.FirstStep => t == 1 ? 1f : 0f,
                    _ => c.Default[0],
                };
                feeds.Add(Ort.F(c.Name, [v]));
            }
            var r = s.Run(feeds);
            foreach (var st in state) values[st.Input] = (float[])r[st.Output];
            result.Add((float[])values["p"].Clone());
        }
        return result;
    }

    /// <summary>PyTorch's SGD (torch.optim.sgd, single tensor path) in double.</summary>
    private static List<double[]> SgdReference(ArtifactOptions o, float[] p0, float[][] grads, Func<int, float> lr)
    {
        var p = p0.Select(v => (double)v).ToArray();
        double[]? buf = null;
        var res = new List<double[]>();
        for (int t = 1; t <= grads.Length; t++)
        {
            var g = grads[t - 1].Select((v, i) => v + (double)o.WeightDecay * p[i]).ToArray();
            if (o.Momentum != 0)
            {
                buf = buf is null ? (double[])g.Clone() : buf.Select((b, i) => o.Momentum * b + (1 - (double)o.Dampening) * g[i]).ToArray();
                g = o.Nesterov ? g.Select((v, i) => v + o.Momentum * buf[i]).ToArray() : (double[])buf.Clone();
            }
            for (int i = 0; i < P; i++) p[i] -= lr(t) * g[i];
            res.Add((double[])p.Clone());
        }
        return res;
    }

    /// <summary>PyTorch's Adam / AdamW (torch.optim.adam / adamw) in double.</summary>
    private static List<double[]> AdamReference(ArtifactOptions o, float[] p0, float[][] grads, Func<int, float> lr, bool decoupled)
    {
        var p = p0.Select(v => (double)v).ToArray();
        var m = new double[P]; var v = new double[P];
        double b1 = o.Beta1, b2 = o.Beta2, eps = o.Epsilon, wd = o.WeightDecay;
        var res = new List<double[]>();
        for (int t = 1; t <= grads.Length; t++)
        {
            double a = lr(t);
            for (int i = 0; i < P; i++)
            {
                double g = grads[t - 1][i];
                if (decoupled) p[i] *= 1 - a * wd; else g += wd * p[i];
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                double bc1 = 1 - Math.Pow(b1, t), bc2 = 1 - Math.Pow(b2, t);
                double denom = Math.Sqrt(v[i]) / Math.Sqrt(bc2) + eps;
                p[i] -= a / bc1 * m[i] / denom;
            }
            res.Add((double[])p.Clone());
        }
        return res;
    }

    private static (float[] P0, float[][] Grads) Data(int seed, int steps = 6)
    {
        var rng = new Random(seed);
        var p0 = Enumerable.Range(0, P).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var grads = Enumerable.Range(0, steps).Select(_ => Enumerable.Range(0, P).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray()).ToArray();
        return (p0, grads);
    }

    private static void AssertTrajectory(List<double[]> expected, List<float[]> actual, double tol)
    {
        for (int t = 0; t < expected.Count; t++)
            for (int i = 0; i < P; i++)
                Assert.True(Math.Abs(expected[t][i] - actual[t][i]) <= tol * (1 + Math.Abs(expected[t][i])),
                    $"step {t + 1}, element {i}: expected {expected[t][i]}, got {actual[t][i]}");
    }

    private static float Schedule(int t) => 0.1f / t;   // a changing learning rate: lr is an input

    [Theory]
    [InlineData(0f, 0f, false, 0f)]
    [InlineData(0.9f, 0f, false, 0f)]
    [InlineData(0.9f, 0.3f, false, 0.01f)]
    [InlineData(0.8f, 0f, true, 0.05f)]
    public void SgdMatchesPyTorchSemantics(float momentum, float dampening, bool nesterov, float wd)
    {
        var o = new ArtifactOptions { Optimizer = OptimizerKind.Sgd, Momentum = momentum, Dampening = dampening, Nesterov = nesterov, WeightDecay = wd };
        var (p0, grads) = Data(10);
        AssertTrajectory(SgdReference(o, p0, grads, Schedule), RunSteps(o, p0, grads, Schedule), 1e-6);
    }

    [Fact]
    public void SgdMomentumFirstStepSetsBufferToGradient()
    {
        // With the first-step flag the buffer equals g (not (1 - dampening) g): p1 = p0 - lr g exactly.
        var o = new ArtifactOptions { Optimizer = OptimizerKind.Sgd, Momentum = 0.9f, Dampening = 0.5f };
        var (p0, grads) = Data(11, 1);
        var p1 = RunSteps(o, p0, grads, _ => 1f)[0];
        for (int i = 0; i < P; i++) Assert.Equal(p0[i] - grads[0][i], p1[i], 6);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.1f)]
    public void AdamMatchesPyTorchSemantics(float wd)
    {
        var o = new ArtifactOptions { Optimizer = OptimizerKind.Adam, WeightDecay = wd };
        var (p0, grads) = Data(12, 8);
        AssertTrajectory(AdamReference(o, p0, grads, Schedule, decoupled: false), RunSteps(o, p0, grads, Schedule), 2e-6);
    }

    [Fact]
    public void AdamWDecouplesWeightDecay()
    {
        var o = new ArtifactOptions { Optimizer = OptimizerKind.AdamW, WeightDecay = 0.5f, Beta1 = 0.8f, Beta2 = 0.99f, Epsilon = 1e-6f };
        var (p0, grads) = Data(13, 8);
        var got = RunSteps(o, p0, grads, Schedule);
        AssertTrajectory(AdamReference(o, p0, grads, Schedule, decoupled: true), got, 2e-6);
        // And it differs from Adam's L2 form with the same decay.
        var adam = AdamReference(o, p0, grads, Schedule, decoupled: false);
        Assert.True(Math.Abs(adam[^1][0] - got[^1][0]) > 1e-4);
    }

    [Fact]
    public void GlobalNormClippingScalesGradients()
    {
        var o = new ArtifactOptions { Optimizer = OptimizerKind.Sgd };
        var (p0, grads) = Data(14, 1);
        grads[0] = grads[0].Select(v => v * 10f).ToArray();
        double norm = Math.Sqrt(grads[0].Sum(v => (double)v * v));
        var p1 = RunSteps(o, p0, grads, _ => 1f, clip: 1f)[0];
        double scale = Math.Min(1, 1 / (norm + 1e-6));
        for (int i = 0; i < P; i++) Assert.Equal(p0[i] - grads[0][i] * scale, p1[i], 5);
        // A threshold above the norm leaves the gradient unchanged.
        var p1b = RunSteps(o, p0, grads, _ => 1f, clip: (float)norm * 2)[0];
        for (int i = 0; i < P; i++) Assert.Equal(p0[i] - grads[0][i], p1b[i], 5);
    }

    [Fact]
    public void InvalidHyperParametersAreRejected()
    {
        Assert.Contains("Nesterov", Assert.Throws<ArgumentException>(() => OptimizerFragment.Validate(new ArtifactOptions { Optimizer = OptimizerKind.Sgd, Nesterov = true })).Message);
        Assert.Contains("beta2", Assert.Throws<ArgumentException>(() => OptimizerFragment.Validate(new ArtifactOptions { Beta2 = 1f })).Message);
        Assert.Contains("learning rate", Assert.Throws<ArgumentException>(() => OptimizerFragment.Validate(new ArtifactOptions { LearningRate = float.NaN })).Message);
    }
}
