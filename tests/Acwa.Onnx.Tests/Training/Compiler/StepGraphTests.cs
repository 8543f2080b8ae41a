using Acwa.Onnx.Graphs;
using Acwa.Onnx.IO;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Tests.Training.Compiler;

public class StepGraphTests
{
    private static readonly int[] Sizes = [4, 6, 3];
    private const int C = 3;

    private static (float[] X, long[] Y) Batch(int seed, int n, int features = 4, int classes = C)
    {
        var rng = new Random(seed);
        return (Enumerable.Range(0, n * features).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(),
                Enumerable.Range(0, n).Select(_ => (long)rng.Next(classes)).ToArray());
    }

    private static double[] D(float[] a) => a.Select(v => (double)v).ToArray();

    public static TheoryData<LossKind, bool> LossCases => new()
    {
        { LossKind.CrossEntropy, false }, { LossKind.CrossEntropy, true }, { LossKind.Focal, false }, { LossKind.Ldam, false }, { LossKind.LogitAdjusted, true },
    };

    [Theory]
    [MemberData(nameof(LossCases))]
    public void StepGraphGradientsMatchFiniteDifferencesOfTheLoss(LossKind loss, bool gemm)
    {
        float[] w = [0.7f, 1.9f, 1.2f];
        float[] margins = [0.3f, 0.1f, 0.5f];
        float[] logPrior = [-0.4f, -2f, -1.2f];
        var o = new ArtifactOptions { Loss = loss, Optimizer = OptimizerKind.Sgd, ClassWeights = w, LdamMargins = margins, LdamScale = 4f, LogPrior = logPrior, FocalGamma = 2f };
        var set = TrainingArtifacts.Compile(TestModels.Mlp(Sizes, 1, gemm), o, exposeGradients: true);
        var (x, y) = Batch(2, 7);
        using var r = new HostStepLoop(set);
        var p0 = r.State.ToDictionary(kv => kv.Key, kv => D(kv.Value.Data!));
        float lossValue = r.Step(x, y);

        double Reference(IReadOnlyDictionary<string, double[]> p)
        {
            var z = TestModels.MlpForward(Sizes, p, D(x), y.Length);
            return loss switch
            {
                LossKind.CrossEntropy => LossReference.WeightedCe(z, y, D(w), C),
                LossKind.Focal => LossReference.Focal(z, y, D(w), 2, C),
                LossKind.Ldam => LossReference.Ldam(z, y, D(w), D(margins), 4, C),
                _ => LossReference.LogitAdjusted(z, y, D(w), D(logPrior), 1, C),
            };
        }
        Assert.Equal(Reference(p0), lossValue, 4);
        foreach (var name in set.Manifest.State.Where(s => s.Kind == StateKind.Parameter).Select(s => s.Name))
        {
            var grad = (float[])r.Last["grad." + name];
            for (int k = 0; k < grad.Length; k++)
            {
                var pp = p0.ToDictionary(kv => kv.Key, kv => (double[])kv.Value.Clone());
                var pm = p0.ToDictionary(kv => kv.Key, kv => (double[])kv.Value.Clone());
                pp[name][k] += 1e-5; pm[name][k] -= 1e-5;
                double fd = (Reference(pp) - Reference(pm)) / 2e-5;
                Assert.True(Math.Abs(fd - grad[k]) <= 2e-5 + 1e-3 * Math.Abs(fd), $"{loss}: d loss / d {name}[{k}]: finite differences {fd}, graph {grad[k]}");
            }
        }
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.Adam)]
    public void AccumulatedMicroBatchesEqualOneLargeBatch(OptimizerKind opt)
    {
        // Unweighted CE (all class weights 1): each micro-batch's loss is its mean, so acc / k over k equal-sized
        // micro-batches is exactly the large batch's mean gradient.
        var forward = TestModels.Mlp(Sizes, 3);
        var big = TrainingArtifacts.Compile(forward, new ArtifactOptions { Optimizer = opt, Momentum = 0.9f, LearningRate = 0.05f, ClipNorm = 0.5f });
        var acc = TrainingArtifacts.Compile(forward, new ArtifactOptions { Optimizer = opt, Momentum = 0.9f, LearningRate = 0.05f, ClipNorm = 0.5f, AccumulationSteps = 3 });
        using var rb = new HostStepLoop(big);
        using var ra = new HostStepLoop(acc);
        for (int step = 0; step < 3; step++)
        {
            var (x, y) = Batch(10 + step, 12);
            rb.Step(x, y);
            for (int m = 0; m < 3; m++)
            {
                var before = ra.State["fc0.weight"].Data!;
                ra.Step(x[(m * 16)..((m + 1) * 16)], y[(m * 4)..((m + 1) * 4)], reset: m == 0, applies: m == 2);
                if (m < 2) Assert.Equal(before, ra.State["fc0.weight"].Data!);
            }
        }
        foreach (var s in big.Manifest.State.Where(s => s.Kind != StateKind.Optimizer))
        {
            var e = rb.State[s.Name].Data!; var a = ra.State[s.Name].Data!;
            for (int k = 0; k < e.Length; k++) Assert.True(Math.Abs(e[k] - a[k]) <= 1e-5 * (1 + Math.Abs(e[k])), $"{s.Name}[{k}]: {e[k]} vs {a[k]}");
        }
        Assert.Contains(acc.Manifest.State, s => s.Name == "optimizer.grad_acc" && s.Kind == StateKind.Optimizer);
    }

    [Theory]
    [InlineData(OptimizerKind.Adam, 0f, 0f, false, 1, false)]
    [InlineData(OptimizerKind.Adam, 0f, 0.01f, false, 1, false)]
    [InlineData(OptimizerKind.AdamW, 0f, 0.01f, false, 1, false)]
    [InlineData(OptimizerKind.Sgd, 0.9f, 0.001f, true, 1, false)]
    [InlineData(OptimizerKind.Sgd, 0.9f, 0f, false, 2, false)]
    [InlineData(OptimizerKind.Adam, 0f, 0f, false, 2, true)]
    public void FusedOptimizerGivesThePerTensorResultsWithFewerNodes(OptimizerKind opt, float momentum, float wd, bool nesterov, int accumulation, bool clip)
    {
        var forward = TestModels.Mlp(Sizes, 5);
        ArtifactOptions Options(bool fused) => new()
        {
            Optimizer = opt, Momentum = momentum, WeightDecay = wd, Nesterov = nesterov, LearningRate = 0.05f,
            AccumulationSteps = accumulation, ClipNorm = clip ? 0.3f : null, FusedOptimizer = fused,
        };
        var fused = TrainingArtifacts.Compile(forward, Options(true));
        var perTensor = TrainingArtifacts.Compile(forward, Options(false));
        using var rf = new HostStepLoop(fused);
        using var rp = new HostStepLoop(perTensor);
        for (int step = 0; step < 3; step++)
            for (int m = 0; m < accumulation; m++)
            {
                var (x, y) = Batch(40 + step * 7 + m, 8);
                float lf = rf.Step(x, y, reset: m == 0, applies: m == accumulation - 1);
                float lp = rp.Step(x, y, reset: m == 0, applies: m == accumulation - 1);
                if (clip) Assert.Equal(lp, lf, 5); else Assert.Equal(lp, lf);
            }
        var parameters = perTensor.Manifest.State.Where(s => s.Kind == StateKind.Parameter).Select(s => s.Name).ToArray();
        Assert.Equal(parameters, fused.Manifest.State.Where(s => s.Kind == StateKind.Parameter).Select(s => s.Name));
        foreach (var name in parameters)
        {
            var e = rp.State[name].Data!; var a = rf.State[name].Data!;
            if (clip) // one reduction over all squares instead of a sum of per-tensor reductions: rounding-level differences
                for (int k = 0; k < e.Length; k++) Assert.True(Math.Abs(e[k] - a[k]) <= 1e-6 * (1 + Math.Abs(e[k])), $"{name}[{k}]: {e[k]} vs {a[k]}");
            else
                Assert.Equal(e, a); // same arithmetic per element: bit for bit
        }
        // One flat optimizer state per kind, holding every parameter element; far fewer nodes.
        long total = parameters.Sum(n => rp.State[n].Data!.Length);
        var optState = fused.Manifest.State.Where(s => s.Kind == StateKind.Optimizer).ToList();
        Assert.All(optState, s => { Assert.StartsWith("optimizer.", s.Name); Assert.Equal([total], s.Shape); });
        Assert.Equal(perTensor.Manifest.State.Count(s => s.Kind == StateKind.Optimizer), optState.Count * parameters.Length);
        Assert.True(fused.TrainingModel.Graph.Node.Count < perTensor.TrainingModel.Graph.Node.Count,
            $"fused {fused.TrainingModel.Graph.Node.Count} nodes, per tensor {perTensor.TrainingModel.Graph.Node.Count}");
    }

    [Fact]
    public void FrozenParametersStayConstantsAndTrainableSubsetIsHonoured()
    {
        var forward = TestModels.Mlp(Sizes, 4);
        var set = TrainingArtifacts.Compile(forward, new ArtifactOptions { Frozen = ["fc0.weight"] });
        Assert.DoesNotContain(set.Manifest.State, s => s.Name == "fc0.weight");
        Assert.Contains(set.TrainingModel.Graph.Initializer, t => t.Name == "fc0.weight");
        Assert.Equal(["fc0.bias", "fc1.weight", "fc1.bias"], set.Manifest.State.Where(s => s.Kind == StateKind.Parameter).Select(s => s.Name));
        var only = TrainingArtifacts.Compile(forward, new ArtifactOptions { Trainable = ["fc1.bias"], Optimizer = OptimizerKind.Sgd });
        Assert.Equal(["fc1.bias"], only.Manifest.State.Select(s => s.Name));
        var e = Assert.Throws<ArgumentException>(() => TrainingArtifacts.Compile(forward, new ArtifactOptions { Trainable = ["nope"] }));
        Assert.Contains("'nope'", e.Message);
        // '*' patterns: in model order, duplicates with exact names merged; a pattern matching nothing is an error.
        var biases = TrainingArtifacts.Compile(forward, new ArtifactOptions { Trainable = ["*.bias", "fc1.bias"], Optimizer = OptimizerKind.Sgd });
        Assert.Equal(["fc0.bias", "fc1.bias"], biases.Manifest.State.Select(s => s.Name));
        var head = TrainingArtifacts.Compile(forward, new ArtifactOptions { Frozen = ["fc0.*"], Optimizer = OptimizerKind.Sgd });
        Assert.Equal(["fc1.weight", "fc1.bias"], head.Manifest.State.Select(s => s.Name));
        var ep = Assert.Throws<ArgumentException>(() => TrainingArtifacts.Compile(forward, new ArtifactOptions { Frozen = ["layer*"] }));
        Assert.Contains("frozen pattern 'layer*' matches no initializer", ep.Message);
        var both = Assert.Throws<ArgumentException>(() => TrainingArtifacts.Compile(forward, new ArtifactOptions { Trainable = ["fc1.bias"], Frozen = ["fc0.weight"] }));
        Assert.Contains("not both", both.Message);
        var e2 = Assert.Throws<ArgumentException>(() => TrainingArtifacts.Compile(forward, new ArtifactOptions { NumClasses = 5 }));
        Assert.Contains("5", e2.Message);
        var old = forward.Clone();
        old.OpsetImport[0].Version = 11;
        Assert.Contains("opset 11", Assert.Throws<NotSupportedException>(() => TrainingArtifacts.Compile(old, new ArtifactOptions())).Message);
    }

    [Fact]
    public void InitializersListedAsGraphInputsByOldExportersAreNotLeftAsInputs()
    {
        var forward = TestModels.Mlp(Sizes, 4);
        foreach (var t in forward.Graph.Initializer.ToList())
            forward.Graph.Input.Add(GraphBuilder.ValueInfo(t.Name, ElementType.Float, t.Dims.Select(d => (long?)d).ToArray()));
        var set = TrainingArtifacts.Compile(forward, new ArtifactOptions { Frozen = ["fc0.weight"] });
        var m = set.Manifest;
        var allowed = m.State.Select(t => t.Input).Concat(m.Controls.Select(c => c.Name)).Append(m.InputName).Append(m.LabelName).ToHashSet();
        Assert.All(set.TrainingModel.Graph.Input, i => Assert.Contains(i.Name, allowed));
        Assert.DoesNotContain(set.EvalModel.Graph.Input, i => i.Name == "fc0.weight");
        Assert.Single(set.TrainingModel.Graph.Input, i => i.Name == "fc1.weight");
    }

    [Fact]
    public void ArtifactsRoundTripAndAreDeterministic()
    {
        var forward = TestModels.Mlp(Sizes, 5);
        var o = new ArtifactOptions { Optimizer = OptimizerKind.AdamW, WeightDecay = 0.01f, Loss = LossKind.Focal, ClassNames = ["a", "b", "c"] };
        var d1 = Directory.CreateTempSubdirectory("acwa-art1").FullName;
        var d2 = Directory.CreateTempSubdirectory("acwa-art2").FullName;
        try
        {
            var m = TrainingArtifacts.Generate(forward, o, d1);
            TrainingArtifacts.Generate(forward, o, d2);
            var files = new[] { "training_model.onnx", "eval_model.onnx", "checkpoint.acwa", "inference_model.onnx", "manifest.json" };
            foreach (var f in files)
                Assert.True(File.ReadAllBytes(Path.Combine(d1, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(d2, f))), $"{f} differs between two generations");
            var loaded = ArtifactManifest.Load(Path.Combine(d1, "manifest.json"));
            Assert.Equal(m.ToJson(), loaded.ToJson());
            Assert.Equal(3, loaded.NumClasses);
            Assert.Equal("focal", loaded.Loss);
            Assert.Equal(0.9, loaded.Hyperparameters["beta1"], 6);
            Assert.Contains(loaded.Controls, c => c.Role == ControlRoles.FocalGamma && c.Default[0] == 2f);
            var (tensors, meta) = TensorFile.Load(Path.Combine(d1, "checkpoint.acwa"));
            Assert.Equal(loaded.State.Select(s => s.Name), tensors.Select(t => t.Name));
            Assert.Equal(Tensors.ToFloats(forward.Graph.Initializer.First(t => t.Name == "fc1.weight")), tensors.First(t => t.Name == "fc1.weight").Data);
            Assert.All(tensors.Where(t => loaded.State.First(s => s.Name == t.Name).Kind == StateKind.Optimizer), t => Assert.All(t.Data!, v => Assert.Equal(0f, v)));
            Assert.Equal("focal", (string)meta["loss"]!);
            // Every graph input of the training model is a state input, a control, x or y.
            using var s = new InferenceSession(Path.Combine(d1, "training_model.onnx"));
            var known = loaded.State.Select(t => t.Input).Concat(loaded.Controls.Select(c => c.Name)).Append(loaded.InputName).Append(loaded.LabelName).ToHashSet();
            Assert.All(s.InputMetadata.Keys, k => Assert.Contains(k, known));
            Assert.All(loaded.State.Select(t => t.Output).Append(loaded.LossOutput).Append(loaded.PredictionsOutput), k => Assert.Contains(k, s.OutputMetadata.Keys));
        }
        finally { Directory.Delete(d1, true); Directory.Delete(d2, true); }
    }

    [Fact]
    public void EvalGraphPredictsArgmaxCountsConfusionAndInferenceExportMatches()
    {
        var forward = TestModels.Mlp(Sizes, 6);
        var set = TrainingArtifacts.Compile(forward, new ArtifactOptions { ClassNames = ["a", "b", "c"], LearningRate = 0.05f });
        using var r = new HostStepLoop(set);
        for (int i = 0; i < 5; i++) { var (bx, by) = Batch(20 + i, 8); r.Step(bx, by); }
        var (x, y) = Batch(30, 50);
        var m = set.Manifest;
        using var eval = new Ort(set.EvalModel);
        var feeds = new List<NamedOnnxValue> { Ort.F(m.InputName, x, 50, 4), Ort.L(m.LabelName, y, 50) };
        foreach (var name in m.EvalStateInputs) { var t = r.State[name]; feeds.Add(Ort.F(name, t.Data!, t.Shape.Select(d => (int)d).ToArray())); }
        var res = eval.Run(feeds);
        var logits = (float[])res[m.EvalLogitsOutput];
        var pred = (long[])res[m.PredictionsOutput];
        var conf = (long[])res[m.EvalConfusionOutput];
        var expectConf = new long[C * C];
        for (int i = 0; i < 50; i++)
        {
            int best = 0;
            for (int j = 1; j < C; j++) if (logits[i * C + j] > logits[i * C + best]) best = j;
            Assert.Equal(best, pred[i]);
            expectConf[y[i] * C + best]++;
        }
        Assert.Equal(expectConf, conf);
        // Logits equal the double reference with the trained parameters.
        var z = TestModels.MlpForward(Sizes, r.State.ToDictionary(kv => kv.Key, kv => D(kv.Value.Data!)), D(x), 50);
        for (int k = 0; k < z.Length; k++) Assert.Equal(z[k], logits[k], 4);

        // Inference export with the trained values, saved and run in a plain InferenceSession.
        var dir = Directory.CreateTempSubdirectory("acwa-inf").FullName;
        try
        {
            var path = Path.Combine(dir, "inference.onnx");
            OnnxModel.Save(InferenceExport.Build(forward, r.State.Values.Where(t => m.EvalStateInputs.Contains(t.Name)), ["a", "b", "c"], C), path);
            using var inf = new InferenceSession(path);
            Assert.Equal("[\"a\",\"b\",\"c\"]", inf.ModelMetadata.CustomMetadataMap["class_names"]);
            using var outs = inf.Run([Ort.F("x", x, 50, 4)]);
            Assert.Equal(logits, outs.First().AsTensor<float>().ToArray());
        }
        finally { Directory.Delete(dir, true); }
        Assert.Throws<ArgumentException>(() => InferenceExport.Build(forward, [HostTensor.Of("fc0.weight", [2], [1f, 2f])]));
    }
}
