using Acwa.Onnx.Graphs;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Tests.Training.Compiler;

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
        using var r = new HostStepLoop(set);
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

public class BatchNormPrecisionTests
{
    /// <summary>
    /// Channels whose mean is large against their spread (1000 +- 0.01: torchvision RegNet-Y's 2x2 maps had such
    /// channels): the training form normalises X - mean, so the normalised values keep their pattern within a channel;
    /// feeding X and the mean to ORT's BatchNormalization (X a + (B - mean a), a = 100 here) added per-element rounding
    /// noise of ~ulp(1e5) to values of order 1.
    /// </summary>
    [Fact]
    public void TrainingFormNormalisesChannelsWithALargeMeanAccurately()
    {
        const int n = 4, ch = 2, hw = 4;
        var b = new GraphBuilder("bn_offset");
        b.Input("x", ElementType.Float, null, ch, 2, 2);
        var bn = b.Op("BatchNormalization", ["x", b.ConstFloat("bn.weight", [ch], 1f, 2f), b.ConstFloat("bn.bias", [ch], 0f, 0.5f),
            b.ConstFloat("bn.running_mean", [ch], 0f, 0f), b.ConstFloat("bn.running_var", [ch], 1f, 1f)], Attr.Float("epsilon", 1e-5f));
        // Weights that sum to zero over each channel's positions: a per-channel constant in the normalised values (float32
        // rounding of the mean itself, which no float32 form avoids) does not reach the logits; per-element noise does.
        var w = new float[ch * hw * 3];
        for (int c = 0; c < ch; c++)
            for (int k = 0; k < 3; k++)
                for (int p = 0; p < hw; p++) w[((c * hw) + p) * 3 + k] = (float)(p - (hw - 1) / 2.0) * (k + 1 + c);
        b.OutputAs(b.Op("MatMul", [b.Op("Flatten", [bn]), b.ConstFloat("fc.w", [ch * hw, 3], w)]), "logits", ElementType.Float, null, 3);
        var set = TrainingArtifacts.Compile(OnnxModel.Create(b.Graph), new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0f });
        var rng = new Random(2);
        var x = Enumerable.Range(0, n * ch * hw).Select(_ => (float)(1000 + 0.01 * (rng.NextDouble() * 2 - 1))).ToArray();
        using var r = new HostStepLoop(set);
        r.Step(x, [0, 1, 2, 0]);
        var logits = (float[])r.Last[set.Manifest.LogitsOutput];

        // Double reference: per channel mean and biased variance over N x H x W, then the same MatMul.
        double[] gamma = [1, 2], beta = [0, 0.5];
        var y = new double[x.Length];
        for (int c = 0; c < ch; c++)
        {
            var idx = Enumerable.Range(0, n).SelectMany(s => Enumerable.Range(0, hw).Select(k => (s * ch + c) * hw + k)).ToArray();
            double mean = idx.Average(i => (double)x[i]), variance = idx.Average(i => ((double)x[i] - mean) * ((double)x[i] - mean));
            foreach (var i in idx) y[i] = ((double)x[i] - mean) / Math.Sqrt(variance + 1e-5) * gamma[c] + beta[c];
        }
        double worst = 0, scale = 0;
        for (int s = 0; s < n; s++)
            for (int k = 0; k < 3; k++)
            {
                double expected = Enumerable.Range(0, ch * hw).Sum(j => y[s * ch * hw + j] * w[j * 3 + k]);
                worst = Math.Max(worst, Math.Abs(logits[s * 3 + k] - expected));
                scale = Math.Max(scale, Math.Abs(expected));
            }
        Assert.True(worst <= 1e-4 * scale, $"train-mode logits off by {worst:G3} (scale {scale:G3})");
    }
}

public class DropoutStepTests
{
    [Fact]
    public void DropoutGetsAHostMaskInputAndItsRatioIsNotAParameter()
    {
        var forward = TestModels.Mlp([4, 6, 3], 1, dropout: 0.25f);
        var set = TrainingArtifacts.Compile(forward, new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0.1f }, exposeGradients: true);
        var m = set.Manifest;
        Assert.DoesNotContain(m.State, s => s.Name.StartsWith("dropout_ratio", StringComparison.Ordinal));
        var mask = Assert.Single(m.DropoutMasks);
        Assert.Equal(0.25, mask.Ratio, 6);
        Assert.Equal([-1L, 6L], mask.Shape);

        // A keep-nothing mask zeroes the hidden layer: the first layer gets no gradient; keep-all scales by 1 / (1 - ratio).
        using var s = new Ort(set.TrainingModel);
        var rng = new Random(3);
        var x = Enumerable.Range(0, 20).Select(_ => (float)rng.NextDouble()).ToArray();
        Dictionary<string, Array> Run(bool keep)
        {
            var feeds = new List<Microsoft.ML.OnnxRuntime.NamedOnnxValue> { Ort.F(m.InputName, x, 5, 4), Ort.L(m.LabelName, [0, 1, 2, 0, 1], 5) };
            foreach (var st in m.State) feeds.Add(Ort.F(st.Input, set.InitialState.First(t => t.Name == st.Name).Data!, st.Shape.Select(v => (int)v).ToArray()));
            foreach (var c in m.Controls) feeds.Add(Ort.F(c.Name, c.Default, c.Shape.Select(v => (int)v).ToArray()));
            feeds.Add(Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor(mask.Name,
                new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<bool>(Enumerable.Repeat(keep, 30).ToArray(), [5, 6])));
            return s.Run(feeds);
        }
        var none = Run(false);
        Assert.All((float[])none["grad.fc0.weight"], v => Assert.Equal(0f, v));
        var all = Run(true);
        Assert.Contains((float[])all["grad.fc0.weight"], v => v != 0f);
        Assert.True(float.IsFinite(((float[])all[m.LossOutput])[0]));
    }

    /// <summary>
    /// Dropout on a tensor whose rows are the batch folded with another axis (Swin's attention: N x windows rows): the fed
    /// mask's shape is written -k (k times the batch) and the runtime sizes it for any batch; a batch-dependent dim that
    /// is no multiple of the batch gets an in-graph mask instead (found on torchvision's swin_t, whose masks were sized N).
    /// </summary>
    [Fact]
    public void DropoutOnRowsThatFoldTheBatchWithAnotherAxisTrainsAtAnyBatchSize()
    {
        // x [N, 8] -> Reshape [N * 4, 2] -> Dropout -> Reshape [N, 8] -> MatMul -> logits [N, 3].
        var b = new GraphBuilder("folded");
        var x = b.Input("x", ElementType.Float, null, 8);
        var rows = b.Op("Reshape", [x, b.ConstInt64("rows", -1, 2)]);
        var dropped = b.Op("Dropout", [rows, b.ConstFloat("ratio", [], 0.5f)]);
        var back = b.Op("Reshape", [dropped, b.ConstInt64("back", -1, 8)]);
        b.OutputAs(b.Op("MatMul", [back, b.ConstFloat("w", [8, 3], Enumerable.Range(0, 24).Select(i => (i % 5 - 2) * 0.1f).ToArray())]),
            "logits", ElementType.Float, null, 3);
        var dir = Directory.CreateTempSubdirectory("acwa-folded-dropout").FullName;
        try
        {
            TrainingArtifacts.Generate(OnnxModel.Create(b.Graph), new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0.1f }, dir);
            using var runner = new Acwa.Onnx.Training.Runtime.StepRunner(dir);
            var mask = Assert.Single(runner.Manifest.DropoutMasks);
            Assert.Equal([-4L, 2L], mask.Shape);
            foreach (int n in new[] { 3, 5 })
            {
                var xs = Enumerable.Range(0, n * 8).Select(i => (float)Math.Sin(i)).ToArray();
                var loss = runner.TrainStep(xs, Enumerable.Range(0, n).Select(i => (long)(i % 3)).ToArray(), n).Loss;
                Assert.True(float.IsFinite(loss), $"batch {n}: loss {loss}");
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
