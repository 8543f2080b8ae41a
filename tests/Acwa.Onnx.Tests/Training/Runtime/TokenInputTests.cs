using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Import;
using Acwa.Onnx.Tests.Models;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Tests.Training.Runtime;

/// <summary>
/// Models whose input is int64 token ids (a text classifier exported from PyTorch: embedding, Transformer encoder layer
/// with a key padding mask, masked mean pooling; fixture tiny_text) through the real runtime: <see cref="StepRunner"/>'s
/// int64 overloads, checked against PyTorch's float64 step and on a small learnable task.
/// </summary>
public sealed class TokenInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("acwa-tokens-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static float[] Ref(string key) => Npy.Read(ModelTestUtil.Fixture($"tiny_text/{key}.npy")).Floats();

    private string Compile(ArtifactOptions options)
    {
        var forward = OpsetUpgrade.ToOpset18(OnnxModel.Load(ModelTestUtil.Fixture("tiny_text.onnx")));
        var dir = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        TrainingArtifacts.Generate(forward, options, dir);
        return dir;
    }

    [Fact]
    public void OneSgdStepOnTokenIdsMatchesPyTorch()
    {
        var ids = Npy.Read(ModelTestUtil.Fixture("tiny_text/x.npy")).Int64s(); // [8, 6], padded tails
        var y = Npy.Read(ModelTestUtil.Fixture("tiny_text/y.npy")).Int64s();
        var dir = Compile(new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0.1f, Momentum = 0.9f, WeightDecay = 1e-4f, ClassWeights = Ref("w") });
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        Assert.Equal(TensorElementType.Int64, runner.InputType);
        Assert.Equal(6, runner.SampleSize);

        var eval = runner.Evaluate(ids, 8);
        StepRunner_AssertClose(Ref("logits_eval"), eval.Logits.ToArray(), "eval logits");
        var result = runner.TrainStep(ids, y, 8);
        double expectedLoss = ModelTestUtil.Index("tiny_text/index.json").GetProperty("loss_train").GetDouble();
        Assert.True(Math.Abs(result.Loss - expectedLoss) <= 1e-4 * expectedLoss, $"loss {result.Loss} vs PyTorch {expectedLoss}");
        var state = runner.GetState();
        foreach (var name in new[] { "emb.weight", "pos", "enc.self_attn.in_proj_weight", "enc.linear1.weight", "norm.weight", "fc.weight" })
            StepRunner_AssertClose(Ref($"sgd/{name}"), state.Single(t => t.Name == name).Data!, $"{name} after one SGD step");
    }

    private static void StepRunner_AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(v => Math.Abs((double)v));
        double worst = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max();
        Assert.True(worst <= 1e-4 * scale, $"{what}: largest difference {worst:G3} against scale {scale:G3}");
    }

    [Fact]
    public void LearnsWhichMarkerTokenASequenceHoldsFromPaddedIds()
    {
        // Random classes of the marker-token task (MarkerTokens).
        static (long[] Ids, long[] Y) Batch(Random rng, int n)
        {
            var ids = new long[n * MarkerTokens.Length];
            var y = new long[n];
            for (int i = 0; i < n; i++)
            {
                y[i] = rng.Next(3);
                MarkerTokens.Fill(rng, (int)y[i], ids.AsSpan(i * MarkerTokens.Length, MarkerTokens.Length));
            }
            return (ids, y);
        }
        var dir = Compile(new ArtifactOptions { Optimizer = OptimizerKind.Adam, LearningRate = 3e-3f });
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var rng = new Random(5);
        var (testIds, testY) = Batch(new Random(99), 300);
        double Accuracy()
        {
            var p = runner.Evaluate(testIds, testY.Length).Predictions;
            int ok = 0;
            for (int i = 0; i < testY.Length; i++) if (p[i] == testY[i]) ok++;
            return ok / (double)testY.Length;
        }
        double before = Accuracy();
        var losses = new List<float>();
        for (int step = 0; step < 150; step++)
        {
            var (ids, y) = Batch(rng, 32);
            losses.Add(runner.TrainStep(ids, y, 32).Loss);
        }
        double after = Accuracy();
        Assert.True(after >= 0.9, $"held-out accuracy {after:F3} after 150 steps (before {before:F3})");
        Assert.True(losses.TakeLast(10).Average() < 0.5 * losses.Take(10).Average(), $"loss {losses.Take(10).Average():F3} -> {losses.TakeLast(10).Average():F3}");
    }

    [Fact]
    public void FeedingTheOtherInputTypeIsRefusedNamingTheInput()
    {
        var dir = Compile(new ArtifactOptions { Optimizer = OptimizerKind.Sgd });
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var e = Assert.Throws<ArgumentException>(() => runner.TrainStep(new float[8 * 6], new long[8], 8));
        Assert.Contains("input 'x' is int64 (token ids)", e.Message);
        e = Assert.Throws<ArgumentException>(() => runner.Evaluate(new float[6], 1));
        Assert.Contains("int64", e.Message);
        // and a float model refuses ids
        var floatDir = TestArtifacts.Create(6, 3);
        using var floatRunner = new StepRunner(floatDir, new StepRunnerOptions { IntraOpThreads = 1 });
        Assert.Equal(TensorElementType.Float, floatRunner.InputType);
        e = Assert.Throws<ArgumentException>(() => floatRunner.TrainStep(new long[6], new long[1], 1));
        Assert.Contains("is float32", e.Message);
        // wrong lengths name the argument
        e = Assert.Throws<ArgumentException>(() => runner.TrainStep(new long[7], new long[1], 1));
        Assert.Contains("ids has 7 values", e.Message);
    }

    [Fact]
    public void ATrainerOverImagesRefusesATokenModelNamingTheSampleDataset()
    {
        var dir = Compile(new ArtifactOptions { Optimizer = OptimizerKind.Adam });
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        // six "pixels" per image, as many values as the model's six token ids, three classes: only the input type differs
        var data = new Acwa.Onnx.Data.ImageDataset(new byte[6 * 6], [0, 1, 2, 0, 1, 2], 1, 1, 6, ["a", "b", "c"], "six values");
        var policy = Acwa.Onnx.Weighting.PolicyFactory.Create("acwa", [2, 2, 2], 1);
        var e = Assert.Throws<ArgumentException>(() => new Trainer(runner, data, data, policy, new TrainerOptions()));
        Assert.Contains("int64 (token ids)", e.Message);
        Assert.Contains("SampleDataset of token ids", e.Message);
    }

    [Fact]
    public void TheTrainerRunsTheAcwaEpochLoopOnTokenIdsAndResumesBitIdentical()
    {
        var dir = Compile(new ArtifactOptions { Optimizer = OptimizerKind.Adam, LearningRate = 3e-3f });
        // The marker-token task as datasets, imbalanced 5:2:1.
        static Acwa.Onnx.Data.SampleDataset Data(int seed, params int[] perClass)
        {
            var (ids, labels) = MarkerTokens.PerClass(seed, perClass);
            return new Acwa.Onnx.Data.SampleDataset(ids, labels, [MarkerTokens.Length], ["one", "two", "three"], $"markers-{seed}");
        }
        var train = Data(1, 250, 100, 50);
        var val = Data(2, 40, 40, 40);
        var test = Data(3, 60, 60, 60);
        (StepRunner, Trainer) Make(string checkpoint)
        {
            var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
            var policy = Acwa.Onnx.Weighting.PolicyFactory.Create("acwa-prior", [250, 100, 50], 8);
            return (runner, new Trainer(runner, train, val, policy, new TrainerOptions { Epochs = 8, BatchSize = 32, Seed = 3, CheckpointPath = checkpoint }, test));
        }

        var (r1, whole) = Make(Path.Combine(_dir, "whole.acwa"));
        TrainingResult full;
        List<float[]> fullState;
        using (r1)
        {
            full = whole.Run();
            fullState = r1.GetState().Select(t => t.Data!).ToList();
            // the trained export, evaluated over the same SampleDataset by the Evaluator, gives the trainer's test matrix
            var export = Path.Combine(_dir, "text-trained.onnx");
            r1.ExportInference(export);
            using var evaluator = Acwa.Onnx.Evaluation.Evaluator.Load(export, new Acwa.Onnx.Evaluation.EvaluatorOptions { IntraOpThreads = 1, BatchSize = 50 });
            var evaluated = evaluator.Evaluate(test);
            Assert.Equal(full.TestConfusion!.Counts.ToArray(), evaluated.Matrix.Counts.ToArray());
            Assert.Equal(["one", "two", "three"], evaluated.Report.Classes.Select(c => c.Name));
        }
        Assert.Equal(8, full.Epochs.Count);
        Assert.Equal(val.Count, full.Epochs[0].Validation.Total);
        Assert.True(full.Epochs[^1].TrainLoss < 0.5 * full.Epochs[0].TrainLoss, $"loss {full.Epochs[0].TrainLoss:F3} -> {full.Epochs[^1].TrainLoss:F3}");
        Assert.True(full.Test!.MacroF1 >= 0.9, $"test macro-F1 {full.Test.MacroF1:F3}");
        Assert.Contains(full.Epochs.Skip(1), e => e.Weights.Distinct().Count() > 1); // the policy acted on the token model's F1

        // Interrupted after three epochs (cancelled from the epoch event, after its checkpoint), then resumed by a new
        // trainer: the same final state as the uninterrupted run, bit for bit.
        var checkpoint = Path.Combine(_dir, "interrupted.acwa");
        var (r2, first) = Make(checkpoint);
        using (r2)
        {
            using var cts = new CancellationTokenSource();
            first.EpochCompleted += (_, e) => { if (e.Epoch == 2) cts.Cancel(); };
            Assert.ThrowsAny<OperationCanceledException>(() => first.Run(cts.Token));
        }
        var (r3, resumed) = Make(checkpoint);
        using (r3)
        {
            resumed.Resume(checkpoint);
            Assert.Equal(3, resumed.CompletedEpochs);
            var rest = resumed.Run();
            Assert.Equal(full.FinalWeights, rest.FinalWeights);
            Assert.Equal(full.Test.MacroF1, rest.Test!.MacroF1);
            Assert.Equal(fullState, r3.GetState().Select(t => t.Data!).ToList());
        }
    }
}
