using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Tests.Compiler;

public class BatchNormStepTests
{
    private static (float[] X, long[] Y) Batch(int seed, int n)
    {
        var rng = new Random(seed);
        return (Enumerable.Range(0, n * 36).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(),
                Enumerable.Range(0, n).Select(_ => (long)rng.Next(3)).ToArray());
    }

    [Fact]
    public void ConvBatchNormStepUpdatesRunningStatisticsAndGradientsMatchFiniteDifferences()
    {
        var forward = TestModels.ConvBn(1);
        var set = TrainingArtifacts.Compile(forward, new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0f, ClassWeights = [1f, 2f, 0.5f] }, exposeGradients: true);
        var m = set.Manifest;
        Assert.Equal(["bn.running_mean", "bn.running_var"], m.State.Where(s => s.Kind == StateKind.Buffer).Select(s => s.Name));
        Assert.DoesNotContain(m.State, s => s.Name.StartsWith("bn.running", StringComparison.Ordinal) && s.Kind == StateKind.Parameter);
        Assert.Contains("bn.running_mean", m.EvalStateInputs);

        var (x, y) = Batch(2, 5);
        using var r = new StepRunner(set);
        var mean0 = r.State["bn.running_mean"].Data!;
        float loss0 = r.Step(x, y);
        var grads = m.State.Where(s => s.Kind == StateKind.Parameter).ToDictionary(s => s.Name, s => (float[])r.Last["grad." + s.Name]);
        // Running mean moved toward the batch mean: ONNX momentum 0.9.
        Assert.NotEqual(mean0, r.State["bn.running_mean"].Data!);

        // Finite differences of the training graph's own (fp32) loss, h = 2e-3 (small, so that no Relu kink is crossed; 1e-2 crossed one), on a few elements of each parameter:
        // tolerance 2e-2 relative + 2e-3 absolute. lr = 0, so the parameters stay put between runs.
        using var s = new Ort(set.TrainingModel);
        var baseState = r.State.ToDictionary(kv => kv.Key, kv => kv.Value);
        baseState["bn.running_mean"] = baseState["bn.running_mean"] with { Data = mean0 };
        float Loss(string name, int k, float delta)
        {
            var feeds = new List<NamedOnnxValue> { Ort.F(m.InputName, x, 5, 1, 6, 6), Ort.L(m.LabelName, y, 5) };
            foreach (var st in m.State)
            {
                var d = (float[])baseState[st.Name].Data!.Clone();
                if (st.Name == name) d[k] += delta;
                feeds.Add(Ort.F(st.Input, d, st.Shape.Select(v => (int)v).ToArray()));
            }
            foreach (var c in m.Controls)
                feeds.Add(Ort.F(c.Name, c.Role == ControlRoles.LearningRate ? [0f] : c.Default, c.Shape.Select(v => (int)v).ToArray()));
            return ((float[])s.Run(feeds)[m.LossOutput])[0];
        }
        Assert.Equal(loss0, Loss("", 0, 0), 6);
        foreach (var (name, g) in grads)
            for (int k = 0; k < g.Length; k += Math.Max(1, g.Length / 4))
            {
                double fd = (Loss(name, k, 2e-3f) - Loss(name, k, -2e-3f)) / 4e-3;
                Assert.True(Math.Abs(fd - g[k]) <= 2e-3 + 2e-2 * Math.Abs(fd), $"d loss / d {name}[{k}]: finite differences {fd}, graph {g[k]}");
            }
    }
}
