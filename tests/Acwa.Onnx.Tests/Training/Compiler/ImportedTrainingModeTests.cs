using Acwa.Cli.Commands;
using Acwa.Cli.Training;
using Acwa.Onnx.Data;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.IO;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Tests.Models;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using RuntimeRunner = Acwa.Onnx.Training.Runtime.StepRunner;
using RuntimeOptions = Acwa.Onnx.Training.Runtime.StepRunnerOptions;
using Acwa.Onnx.Training.Runs;

namespace Acwa.Onnx.Tests.Training.Compiler;

/// <summary>
/// Models exported from PyTorch for training (tools/export_torch_fixtures.py, bn_drop/): a CNN with four batch norms and
/// dropout 0.2 exported with <c>TrainingMode.TRAINING</c> (batch norm with training_mode = 1, Dropout with a constant
/// training_mode input) and with <c>TrainingMode.EVAL</c> (batch norm folded into the convolutions). Whatever evaluates
/// (the eval graph, the export, <c>acwa eval</c>) runs in inference mode: a sample's logits do not depend on its batch and
/// equal PyTorch's eval mode; running statistics change only in training steps, as PyTorch changes them.
/// </summary>
public sealed class ImportedTrainingModeTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static float[] Ref(string key) => Npy.Read(ModelTestUtil.Fixture($"bn_drop/{key}.npy")).Floats();

    private static ModelProto Export(string mode) => OnnxModel.Load(ModelTestUtil.Fixture($"bn_drop/{mode}.onnx"));

    private static ArtifactOptions Sgd => new()
    {
        // The reference's SGD: lr 0.1, momentum 0.9, weight decay 1e-4; weighted cross-entropy with w.npy.
        Optimizer = OptimizerKind.Sgd, LearningRate = 0.1f, Momentum = 0.9f, WeightDecay = 1e-4f, ClassWeights = Ref("w"),
    };

    private const int SampleSize = 64; // 1 x 8 x 8

    private static float[] Sample(float[] x, int i) => x.AsSpan(i * SampleSize, SampleSize).ToArray();

    /// <summary>max |a - b| / max(1e-12, max |b|).</summary>
    private static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double diff = 0, scale = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs((double)actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs((double)expected[i]));
        }
        return diff / Math.Max(scale, 1e-12);
    }

    private static void Close(string what, ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double tolerance)
    {
        double e = RelativeError(actual, expected);
        Assert.True(e <= tolerance, $"{what}: relative error {e:G3} > {tolerance:G3}");
    }

    private string Compile(string mode, ArtifactOptions options)
    {
        var dir = _dir.File($"artifacts-{mode}-{Guid.NewGuid():N}");
        TrainingArtifacts.Generate(Export(mode), options, dir);
        return dir;
    }

    /// <summary>
    /// The logits of the 64-sample batch evaluated at once, and of samples 0, 17 and 63 each evaluated alone, through the
    /// eval graph and through the exported model: one sample alone gives its logits inside the batch (1e-5).
    /// Returns the batch's logits from the eval graph and from the export.
    /// </summary>
    private static (float[] Eval, float[] Export) CheckBatchIndependence(RuntimeRunner runner, float[] x64, string when)
    {
        var all = runner.Evaluate(x64, 64).Logits.ToArray();
        var export = runner.InferenceModel();
        Assert.DoesNotContain(export.Graph.Node, n => n.FindAttribute("training_mode") is not null || (n.OpType == "Dropout" && n.Input.Count > 2));
        var (exported, _) = ModelTestUtil.Run(export, x64, [64, 1, 8, 8]);
        Close($"{when}: export vs eval graph, batch of 64", exported, all, 1e-5);
        foreach (int i in new[] { 0, 17, 63 })
        {
            var inBatch = all.AsSpan(i * 3, 3);
            Close($"{when}: sample {i} alone in the eval graph vs in the batch", runner.Evaluate(Sample(x64, i), 1).Logits, inBatch, 1e-5);
            Close($"{when}: sample {i} alone in the export vs in the batch", ModelTestUtil.Run(export, Sample(x64, i), [1, 1, 8, 8]).Values, inBatch, 1e-5);
        }
        return (all, exported);
    }

    [Theory]
    [InlineData("train")]
    [InlineData("eval")]
    public void EachSampleGetsItsOwnLogitsBeforeAndAfterTraining(string mode)
    {
        var x64 = Ref("x64");
        var dir = Compile(mode, new ArtifactOptions { Optimizer = OptimizerKind.Adam, LearningRate = 1e-2f });
        using var runner = new RuntimeRunner(dir, new RuntimeOptions { IntraOpThreads = 1 });
        var (before, _) = CheckBatchIndependence(runner, x64, "initial weights");
        // Both exports hold the same weights: their eval-mode function is PyTorch's eval mode of the module (batch norm
        // with its running statistics; in the eval export folded into the convolutions, hence the looser tolerance).
        Close("initial eval-graph logits vs PyTorch eval mode", before, Ref("logits_eval"), mode == "train" ? 1e-5 : 1e-4);

        var xs = Ref("xs");
        var ys = Npy.Read(ModelTestUtil.Fixture("bn_drop/ys.npy")).Int64s();
        for (int k = 0; k < 5; k++) runner.TrainStep(xs.AsSpan(k * 16 * SampleSize, 16 * SampleSize), ys.AsSpan(k * 16, 16), 16);
        var (after, _) = CheckBatchIndependence(runner, x64, "after 5 steps");
        Assert.True(RelativeError(after, before) > 1e-3, "5 Adam steps at lr 1e-2 did not change the logits");
    }

    /// <summary>
    /// train_nodrop.onnx (the training export with dropout 0, so that no dropout mask has to match PyTorch's) trained 5
    /// SGD steps on fixed batches with class weights: every parameter and running statistic equals PyTorch's float64
    /// training (running mean with momentum 0.1, running variance from the unbiased batch variance), and so do the
    /// eval-mode logits of the trained model. Evaluation between the steps leaves the whole state unchanged.
    /// </summary>
    [Fact]
    public void RunningStatisticsFollowPyTorchAndEvaluationDoesNotMoveThem()
    {
        var index = ModelTestUtil.Index("bn_drop/index.json");
        var x64 = Ref("x64");
        var xs = Ref("xs");
        var ys = Npy.Read(ModelTestUtil.Fixture("bn_drop/ys.npy")).Int64s();
        var dir = Compile("train_nodrop", Sgd);
        using var runner = new RuntimeRunner(dir, new RuntimeOptions { IntraOpThreads = 1 });
        var buffers = runner.Manifest.State.Where(s => s.Kind == StateKind.Buffer).Select(s => s.Name).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(index.GetProperty("buffers").EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal), buffers);

        var losses = index.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        for (int k = 0; k < losses.Length; k++)
        {
            var state = runner.GetState();
            runner.Evaluate(x64, 64);
            runner.Evaluate(Sample(x64, 5), 1);
            runner.Evaluate(x64.AsSpan(0, 7 * SampleSize), Enumerable.Repeat(1L, 7).ToArray(), 7);
            foreach (var (was, now) in state.Zip(runner.GetState()))
                Assert.True(was.Data!.AsSpan().SequenceEqual(now.Data!), $"evaluation before step {k + 1} changed '{was.Name}'");
            float loss = runner.TrainStep(xs.AsSpan(k * 16 * SampleSize, 16 * SampleSize), ys.AsSpan(k * 16, 16), 16).Loss;
            Assert.True(Math.Abs(loss - losses[k]) <= 1e-4 * Math.Abs(losses[k]), $"step {k + 1}: loss {loss} vs PyTorch {losses[k]}");
        }
        double worst = 0;
        foreach (var t in runner.GetState().Where(t => index.GetProperty("state").EnumerateArray().Any(e => e.GetString() == t.Name)))
        {
            var expected = Ref($"after/{t.Name}");
            worst = Math.Max(worst, RelativeError(t.Data!, expected));
            Close($"'{t.Name}' after {losses.Length} steps", t.Data!, expected, 1e-4);
        }
        var (logits, exported) = CheckBatchIndependence(runner, x64, "after training");
        Close("trained eval-graph logits vs PyTorch eval mode", logits, Ref("after/logits_eval"), 1e-4);
        Close("trained export's logits vs PyTorch eval mode", exported, Ref("after/logits_eval"), 1e-4);
        output.WriteLine($"largest relative error of the state after {losses.Length} steps: {worst:G3}");
    }

    [Fact]
    public void TrainingExportIsPutIntoInferenceModeWithNothingLeftUnread()
    {
        var train = Export("train");
        var before = InferenceMode.TrainingModeNodes(train.Graph);
        Assert.Equal(5, before.Count); // four batch norms and the dropout
        var converted = InferenceMode.Apply(train, out var list);
        Assert.Equal(before, list);
        Assert.Equal(5, InferenceMode.TrainingModeNodes(train.Graph).Count); // the input model is not modified
        Assert.Empty(InferenceMode.TrainingModeNodes(converted.Graph));
        Assert.All(converted.Graph.Node.Where(n => n.OpType == "BatchNormalization"), n => Assert.Single(n.Output));
        Assert.DoesNotContain(converted.Graph.Node, n => n.OpType == "Constant" && !converted.Graph.Node.Any(m => m.Input.Contains(n.Output[0])));
        Assert.Equal(converted.Graph.Node.Count, InferenceMode.Apply(converted, out var again).Graph.Node.Count);
        Assert.Empty(again);
        InferenceMode.Apply(Export("eval"), out var none);
        Assert.Empty(none);

        // What ONNX Runtime warns about at session start ("Removing initializer ... It is not used by any node"): every
        // initializer and every node output of the compiled graphs is read.
        var set = TrainingArtifacts.Compile(train, Sgd);
        foreach (var (name, g) in new[] { ("training", set.TrainingModel.Graph), ("eval", set.EvalModel.Graph), ("inference", set.InferenceModel.Graph) })
        {
            var read = g.Node.SelectMany(n => n.Input).Concat(g.Output.Select(o => o.Name)).ToHashSet(StringComparer.Ordinal);
            Assert.All(g.Initializer, t => Assert.True(read.Contains(t.Name), $"{name} graph: initializer '{t.Name}' is not read"));
            Assert.All(g.Node, n => Assert.True(n.Output.Any(read.Contains), $"{name} graph: nothing reads {n.Describe()}"));
        }
    }

    /// <summary>A training export fine-tuned with its batch norms frozen: those run on their running statistics in every graph.</summary>
    [Fact]
    public void FrozenBatchNormOfATrainingExportRunsOnRunningStatistics()
    {
        var dir = Compile("train", Sgd with { Trainable = ["fc.*", "conv4.weight"], FrozenBatchNorm = true });
        using var runner = new RuntimeRunner(dir, new RuntimeOptions { IntraOpThreads = 1 });
        Assert.DoesNotContain(runner.Manifest.State, s => s.Kind == StateKind.Buffer);
        var x64 = Ref("x64");
        Close("frozen batch norms: logits vs PyTorch eval mode", runner.Evaluate(x64, 64).Logits, Ref("logits_eval"), 1e-5);
        var xs = Ref("xs");
        var ys = Npy.Read(ModelTestUtil.Fixture("bn_drop/ys.npy")).Int64s();
        Assert.True(float.IsFinite(runner.TrainStep(xs.AsSpan(0, 16 * SampleSize), ys.AsSpan(0, 16), 16).Loss));
        CheckBatchIndependence(runner, x64, "frozen batch norms, one step");
    }

    /// <summary>
    /// A learnable 3-class task on [1, 8, 8] float images: class c has a bright quadrant c on noise.
    /// </summary>
    private (string X, string Y) Images(string name, int seed, int perClass)
    {
        var rng = new Random(seed);
        int n = 3 * perClass;
        var x = new float[n * SampleSize];
        var y = new long[n];
        for (int i = 0; i < n; i++)
        {
            int c = i % 3;
            y[i] = c;
            for (int p = 0; p < SampleSize; p++)
            {
                int r = p / 8, col = p % 8;
                int quadrant = (r < 4 ? 0 : 1) + (col < 4 ? 0 : 1);
                x[i * SampleSize + p] = (float)(rng.NextDouble() - 0.5) + (quadrant == c ? 1.2f : 0f);
            }
        }
        var (xp, yp) = (_dir.File($"{name}_x.npy"), _dir.File($"{name}_y.npy"));
        NpyFile.Write<float>(xp, x, [n, 1, 8, 8]);
        NpyFile.Write<long>(yp, y);
        return (xp, yp);
    }

    /// <summary>
    /// <c>acwa train</c> on the training export, then <c>acwa eval</c> of the run's model.onnx: the same confusion matrix at
    /// batch 1, 7 and 256, equal to the trainer's own test pass; <c>acwa eval</c> of the raw training export says it put
    /// the model into inference mode and is batch-independent too, unless told to keep the training mode.
    /// </summary>
    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void AcwaEvalOfTrainedAndRawTrainingExportsDoesNotDependOnTheBatch()
    {
        var (x, y) = Images("train", 1, 200);
        var (xt, yt) = Images("test", 2, 40);
        var outDir = _dir.File("run");
        var o = new TrainingRunOptions
        {
            Dataset = $"npy:{x},{y},{xt},{yt}", Imbalance = "none", Model = ModelTestUtil.Fixture("bn_drop/train.onnx"), Policy = "uniform",
            Epochs = 3, Batch = 32, LearningRate = 1e-2, OutDir = outDir, Threads = 1,
        };
        var outcome = TrainRun.Run(o, new StringWriter());
        Assert.True(outcome.Test!.MacroF1 >= 0.8, $"test macro-F1 {outcome.Test.MacroF1:F3}");
        var model = Path.Combine(outDir, "model.onnx");
        Assert.Empty(InferenceMode.TrainingModeNodes(OnnxModel.Load(model).Graph));
        foreach (int batch in new[] { 1, 7, 256 })
        {
            var eval = EvalCommand.Compute(new EvalOptions(model, $"npy:{xt},{yt}", Batch: batch), out _, out var notice);
            Assert.Null(notice);
            Assert.Equal(outcome.TestConfusion!.Counts.ToArray(), eval.Matrix.Counts.ToArray());
        }

        // The four-file npy: form that acwa train takes: --split picks the test pair (default) or the training pair.
        var four = $"npy:{x},{y},{xt},{yt}";
        Assert.Equal(outcome.TestConfusion!.Counts.ToArray(), EvalCommand.Compute(new EvalOptions(model, four), out _).Matrix.Counts.ToArray());
        Assert.Equal(600, EvalCommand.Compute(new EvalOptions(model, four, Split: "train"), out _).Matrix.Total);

        var raw = ModelTestUtil.Fixture("bn_drop/train.onnx");
        var one = EvalCommand.Compute(new EvalOptions(raw, $"npy:{xt},{yt}", Batch: 1), out _, out var rawNotice);
        Assert.Contains("4 BatchNormalization, 1 Dropout put into inference mode", rawNotice);
        Assert.Equal(one.Matrix.Counts.ToArray(), EvalCommand.Compute(new EvalOptions(raw, $"npy:{xt},{yt}", Batch: 256), out _).Matrix.Counts.ToArray());
        var kept = EvalCommand.Compute(new EvalOptions(raw, $"npy:{xt},{yt}", Batch: 256, KeepTrainingMode: true), out _, out var keptNotice);
        Assert.Null(keptNotice);
        Assert.Equal(120, kept.Matrix.Total);

        var (code, stdout, _) = Cli.CliRun.Invoke("eval", "--model", raw, "--dataset", $"npy:{xt},{yt}", "--batch", "3");
        Assert.Equal(0, code);
        Assert.Contains("--keep-training-mode", stdout);
    }
}
