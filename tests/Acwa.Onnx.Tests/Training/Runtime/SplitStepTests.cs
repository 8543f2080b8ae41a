using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.IO;
using Acwa.Onnx.Models;
using Acwa.Onnx.Tests.Models;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;
using Xunit.Abstractions;

namespace Acwa.Onnx.Tests.Training.Runtime;

/// <summary>
/// The split step (ArtifactOptions.SplitStep; StepRunner.ComputeGradients / ApplyGradients) against the fused training
/// step, on real ONNX Runtime sessions: what data-parallel training relies on.
/// </summary>
public class SplitStepTests(ITestOutputHelper output)
{
    /// <summary>(forward model, sample shape without the batch, classes): "mlp" (built-in, 1x8x8), "cnn" (built-in small
    /// CNN, 1x8x8), "bn_drop" (PyTorch training-mode export: four batch norms and Dropout, 1x8x8).</summary>
    private static (ModelProto Model, int SampleSize, int Classes) Forward(string model) => model switch
    {
        "mlp" => (Mlp.Build(classes: 5, hidden: [16], channels: 1, height: 8, width: 8, seed: 3), 64, 5),
        "cnn" => (SmallCnn.Build(classes: 5, channels: 1, height: 8, width: 8, seed: 3), 64, 5),
        "convbn" => (Compiler.TestModels.ConvBn(1), 36, 3),
        "bn_drop" => (OnnxModel.Load(ModelTestUtil.Fixture("bn_drop/train.onnx")), 64, Npy.Read(ModelTestUtil.Fixture("bn_drop/w.npy")).Floats().Length),
        _ => throw new ArgumentException(model),
    };

    private static float[] Weights(int classes) => Enumerable.Range(0, classes).Select(c => 0.25f + 0.6f * c).ToArray();

    private static ArtifactOptions Options(string optimizer, int classes, LossKind loss = LossKind.CrossEntropy) => optimizer switch
    {
        "sgd" => new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0.05f, Momentum = 0.9f, WeightDecay = 1e-4f, ClassWeights = Weights(classes), Loss = loss, SplitStep = true },
        "adam" => new ArtifactOptions { Optimizer = OptimizerKind.Adam, LearningRate = 2e-3f, WeightDecay = 1e-4f, ClassWeights = Weights(classes), Loss = loss, SplitStep = true },
        "adamw-clip" => new ArtifactOptions { Optimizer = OptimizerKind.AdamW, LearningRate = 2e-3f, WeightDecay = 1e-2f, ClipNorm = 0.5f, ClassWeights = Weights(classes), Loss = loss, SplitStep = true },
        _ => throw new ArgumentException(optimizer),
    };

    private static string Write(ModelProto forward, ArtifactOptions options)
    {
        var dir = Directory.CreateTempSubdirectory("acwa-split").FullName;
        TrainingArtifacts.Generate(forward, options, dir);
        return dir;
    }

    private static (float[] X, long[] Y) Batch(Random rng, int n, int sampleSize, int classes, Func<int, int>? label = null)
    {
        var x = Enumerable.Range(0, n * sampleSize).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var y = Enumerable.Range(0, n).Select(i => (long)(label?.Invoke(i) ?? rng.Next(classes))).ToArray();
        return (x, y);
    }

    /// <summary>max |a - b| / max |b| over a tensor (0 for equal tensors).</summary>
    private static double Rel(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(b.Length, a.Length);
        double d = 0, s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            d = Math.Max(d, Math.Abs((double)a[i] - b[i]));
            s = Math.Max(s, Math.Abs((double)b[i]));
        }
        return d == 0 ? 0 : d / Math.Max(s, 1e-30);
    }

    public static TheoryData<string, string> Cases => new()
    {
        { "mlp", "sgd" }, { "mlp", "adam" }, { "mlp", "adamw-clip" },
        { "cnn", "sgd" }, { "cnn", "adam" },
        { "bn_drop", "sgd" }, { "bn_drop", "adam" },
    };

    /// <summary>
    /// ComputeGradients then ApplyGradients(1 / LossNormalizer) takes the same steps as TrainStep on a second runner from
    /// the same artifacts: 24 steps (one batch of another size), non-uniform class weights; losses, parameters, optimizer
    /// state and buffers compared (max |a - b| / max |b| per tensor), step counters equal. The bound is 1e-6 relative, or
    /// where the fused step's own rounding moves the parameters further, twice that: a third runner trains fused with all
    /// class weights times 3 (the same loss: a common factor cancels; only the rounding differs). Adam amplifies
    /// rounding-level differences of gradient elements near zero (a sum that cancels to 1e-6 of the largest element) into
    /// steps of up to lr on its first step, which is where the small CNN's difference (6.7e-6) comes from.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void SplitStepEqualsFusedStep(string model, string optimizer)
    {
        var (forward, sampleSize, classes) = Forward(model);
        var dir = Write(forward, Options(optimizer, classes));
        var ro = new StepRunnerOptions { IntraOpThreads = 1, DropoutSeed = 7 };
        using var fused = new StepRunner(dir, ro);
        using var split = new StepRunner(dir, ro);
        using var scaled = new StepRunner(dir, ro);
        scaled.SetClassWeights(Weights(classes).Select(w => 3 * w).ToArray());
        Assert.True(split.HasSplitStep);
        Assert.Equal(fused.GetState().Where(t => split.Manifest.State.Single(s => s.Name == t.Name).Kind == StateKind.Parameter).Sum(t => t.Length), split.GradientLength);
        var rng = new Random(11);
        double lossRel = 0;
        for (int step = 0; step < 24; step++)
        {
            int n = step == 17 ? 5 : 12;
            var (x, y) = Batch(rng, n, sampleSize, classes);
            float lf = fused.TrainStep(x, y, n).Loss;
            scaled.TrainStep(x, y, n);
            var r = split.ComputeGradients(x, y, n);
            Assert.Equal(step, r.Step);
            float ls = r.Loss;
            Assert.Equal(ls, split.LossSum / split.LossNormalizer, 6);
            split.ApplyGradients(1f / split.LossNormalizer);
            lossRel = Math.Max(lossRel, Math.Abs(lf - ls) / Math.Abs(lf));
        }
        Assert.Equal(fused.Step, split.Step);
        Assert.Equal(fused.MicroStep, split.MicroStep);
        var a = fused.GetState();
        var b = split.GetState();
        var c = scaled.GetState();
        var worst = new Dictionary<StateKind, double>();
        double own = 0;
        for (int i = 0; i < a.Count; i++)
        {
            var kind = split.Manifest.State[i].Kind;
            worst[kind] = Math.Max(worst.GetValueOrDefault(kind), Rel(b[i].Data!, a[i].Data!));
            if (kind == StateKind.Parameter) own = Math.Max(own, Rel(c[i].Data!, a[i].Data!));
        }
        output.WriteLine($"{model} {optimizer}: split vs fused: losses {lossRel:G3}; " + string.Join(", ", worst.Select(kv => $"{kv.Key} {kv.Value:G3}"))
            + $"; fused with weights x3 vs fused (its own rounding): Parameter {own:G3}");
        Assert.True(lossRel <= 1e-6, $"losses differ by {lossRel:G3} relative");
        double bound = Math.Max(1e-6, 2 * own);
        Assert.True(worst[StateKind.Parameter] <= bound, $"parameters differ by {worst[StateKind.Parameter]:G3} relative (bound {bound:G3})");
        foreach (var (kind, e) in worst) Assert.True(e <= Math.Max(1e-5, 2 * own), $"{kind} state differs by {e:G3} relative");
    }

    /// <summary>Gradients = the fused step graph's exposed per-parameter gradients (of the mean loss) times Z.</summary>
    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    [InlineData("convbn")]
    public void GradientsAreTheFusedGradientsTimesTheNormalizer(string model)
    {
        // convbn: conv + batch norm (the host loop feeds no Dropout masks, so not bn_drop).
        var (forward, sampleSize, classes) = Forward(model);
        var options = Options("sgd", classes);
        var set = TrainingArtifacts.Compile(forward, options, exposeGradients: true);
        var dir = Directory.CreateTempSubdirectory("acwa-split").FullName;
        TrainingArtifacts.Write(set, dir);
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        using var loop = new Compiler.HostStepLoop(set);
        var (x, y) = Batch(new Random(5), 10, sampleSize, classes);
        loop.Step(x, y);
        runner.ComputeGradients(x, y, 10);
        double z = y.Sum(l => (double)Weights(classes)[l]);
        Assert.Equal(z, runner.LossNormalizer, 5);
        var expected = set.Manifest.State.Where(s => s.Kind == StateKind.Parameter)
            .SelectMany(s => ((float[])loop.Last["grad." + s.Name]).Select(v => v * runner.LossNormalizer)).ToArray();
        double e = Rel(runner.Gradients, expected);
        output.WriteLine($"{model}: Gradients vs fused gradients x Z: {e:G3} relative (P = {expected.Length}, Z = {runner.LossNormalizer})");
        Assert.True(e <= 1e-6, $"relative difference {e:G3}");
    }

    /// <summary>
    /// The sum of two halves' Gradients and normalisers is the whole batch's (what data parallelism relies on): halves with
    /// different class mixes, non-uniform weights. Models without batch norm only (batch statistics differ by design).
    /// </summary>
    [Theory]
    [InlineData("mlp", LossKind.CrossEntropy)]
    [InlineData("cnn", LossKind.CrossEntropy)]
    [InlineData("mlp", LossKind.Focal)]
    [InlineData("mlp", LossKind.Ldam)]
    [InlineData("mlp", LossKind.LogitAdjusted)]
    public void HalvesAddUpToTheWholeBatch(string model, LossKind loss)
    {
        var (forward, sampleSize, classes) = Forward(model);
        var dir = Write(forward, Options("adam", classes, loss));
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var rng = new Random(9);
        // First half mostly classes 0-1, second half mostly the last classes.
        var (x, y) = Batch(rng, 16, sampleSize, classes, i => i < 8 ? i % 2 : classes - 1 - i % 3);
        runner.ComputeGradients(x, y, 16);
        var whole = runner.Gradients.ToArray();
        float zWhole = runner.LossNormalizer, sWhole = runner.LossSum;
        var sum = new float[whole.Length];
        float z = 0, s = 0;
        foreach (var (from, n) in new[] { (0, 6), (6, 10) })
        {
            runner.ComputeGradients(x.AsSpan(from * sampleSize, n * sampleSize), y.AsSpan(from, n), n);
            var g = runner.Gradients;
            for (int i = 0; i < sum.Length; i++) sum[i] += g[i];
            z += runner.LossNormalizer;
            s += runner.LossSum;
        }
        double e = Rel(sum, whole);
        output.WriteLine($"{model} {loss}: halves' sum vs whole batch: gradient {e:G3} relative, Z {zWhole} vs {z}, S {sWhole} vs {s}");
        Assert.True(e <= 2e-6, $"gradient relative difference {e:G3}");
        Assert.True(Math.Abs(zWhole - z) <= 1e-6 * zWhole, $"Z {zWhole} vs {z}");
        Assert.True(Math.Abs(sWhole - s) <= 1e-6 * sWhole, $"S {sWhole} vs {s}");
        if (loss == LossKind.Focal) Assert.Equal(16f, zWhole);
        else Assert.Equal(y.Sum(l => (double)Weights(classes)[l]), zWhole, 4);
    }

    /// <summary>
    /// On a split-step runner: buffers by name (get, set, broadcast-style), checkpoints, evaluation and a fused TrainStep
    /// after split steps all act on the same state; ComputeGradients alone changes only the buffers.
    /// </summary>
    [Fact]
    public void SplitRunnerKeepsStateCheckpointsBuffersAndEvaluation()
    {
        var (forward, sampleSize, classes) = Forward("bn_drop");
        var dir = Write(forward, Options("sgd", classes));
        var ro = new StepRunnerOptions { IntraOpThreads = 1 };
        using var runner = new StepRunner(dir, ro);
        using var reference = new StepRunner(dir, ro);
        var rng = new Random(3);
        Assert.Equal(8, runner.BufferNames.Count);
        Assert.Equal(runner.BufferNames, runner.GetBuffers().Select(t => t.Name));

        var (x, y) = Batch(rng, 8, sampleSize, classes);
        var before = runner.GetState();
        runner.ComputeGradients(x, y, 8);
        var after = runner.GetState();
        for (int i = 0; i < before.Count; i++)
        {
            bool buffer = runner.Manifest.State[i].Kind == StateKind.Buffer;
            Assert.True(buffer != before[i].Data!.SequenceEqual(after[i].Data!), $"{before[i].Name} {(buffer ? "did not change" : "changed")}");
        }
        Assert.Equal(0, runner.Step);
        Assert.Equal(0, runner.MicroStep);
        runner.ApplyGradients(1f / runner.LossNormalizer);
        reference.TrainStep(x, y, 8);

        // Broadcast: another runner's buffers replace these; nothing else moves.
        var other = reference.GetBuffers().Select(t => t with { Data = t.Data!.Select(v => v + 0.5f).ToArray() }).ToList();
        var paramsBefore = runner.GetState().Where((t, i) => runner.Manifest.State[i].Kind != StateKind.Buffer).ToList();
        runner.SetBuffers(other);
        Assert.Equal(other.Select(t => t.Data!), runner.GetBuffers().Select(t => t.Data!));
        Assert.Equal(paramsBefore.Select(t => t.Data!), runner.GetState().Where((t, i) => runner.Manifest.State[i].Kind != StateKind.Buffer).Select(t => t.Data!));
        Assert.Throws<InvalidDataException>(() => runner.SetBuffers(other.Skip(1).ToList()));
        Assert.Throws<InvalidDataException>(() => runner.SetBuffers([.. other, HostTensor.Of("fc.weight", [1], [0f])]));
        reference.SetBuffers(other);

        // A fused step on the split runner, then a split step on both: still in step with the fused reference.
        (x, y) = Batch(rng, 8, sampleSize, classes);
        runner.TrainStep(x, y, 8);
        reference.TrainStep(x, y, 8);
        (x, y) = Batch(rng, 8, sampleSize, classes);
        runner.ComputeGradients(x, y, 8);
        runner.ApplyGradients(1f / runner.LossNormalizer);
        reference.TrainStep(x, y, 8);
        Assert.Equal(3, runner.Step);
        var sa = runner.GetState();
        var sb = reference.GetState();
        for (int i = 0; i < sa.Count; i++) Assert.True(Rel(sa[i].Data!, sb[i].Data!) <= 1e-6, sa[i].Name);

        var ck = Path.Combine(dir, "split.acwa");
        runner.SaveCheckpoint(ck);
        using var resumed = new StepRunner(dir, ro with { CheckpointPath = ck });
        Assert.Equal(3, resumed.Step);
        var (ex, _) = Batch(rng, 4, sampleSize, classes);
        Assert.Equal(runner.Evaluate(ex, 4).Logits.ToArray(), resumed.Evaluate(ex, 4).Logits.ToArray());
        Assert.Equal(runner.InferenceModel().Graph.Initializer.Count, resumed.InferenceModel().Graph.Initializer.Count);
    }

    [Fact]
    public void RunnerWithoutSplitStepSaysSo()
    {
        var (forward, sampleSize, classes) = Forward("mlp");
        var dir = Write(forward, Options("sgd", classes) with { SplitStep = false });
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        Assert.False(runner.HasSplitStep);
        Assert.Equal(0, runner.GradientLength);
        Assert.True(runner.Gradients.IsEmpty);
        Assert.Empty(runner.BufferNames);
        var (x, y) = Batch(new Random(1), 2, sampleSize, classes);
        var e = Assert.Throws<InvalidOperationException>(() => runner.ComputeGradients(x, y, 2));
        Assert.Contains("SplitStep", e.Message);
        Assert.Throws<InvalidOperationException>(() => runner.ApplyGradients(1f));
        Assert.False(File.Exists(Path.Combine(dir, "gradients_model.onnx")));
    }

    /// <summary>Compiled for CUDA, the split graphs pass the host-shape-arithmetic check too (the runner runs them on the CPU only for now).</summary>
    [Theory]
    [InlineData("cnn", LossKind.Focal)]
    [InlineData("bn_drop", LossKind.CrossEntropy)]
    public void SplitGraphsCompileForCuda(string model, LossKind loss)
    {
        var (forward, _, classes) = Forward(model);
        var set = TrainingArtifacts.Compile(forward, Options("adamw-clip", classes, loss) with { Device = Device.Cuda() });
        Assert.NotNull(set.GradientsModel);
        Assert.NotNull(set.UpdateModel);
        Assert.Contains(set.Manifest.SplitStep!.UpdateControls, c => c == "clip_norm");
    }

    [Fact]
    public void SplitStepWithAccumulationIsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            TrainingArtifacts.Compile(Mlp.Build(classes: 3, hidden: [4], height: 4, width: 4), new ArtifactOptions { SplitStep = true, AccumulationSteps = 2 }));
        Assert.Contains("SplitStep", e.Message);
        Assert.Contains("AccumulationSteps", e.Message);
    }
}
