using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Import;
using Acwa.Onnx.Tests.Models;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Tests.Runtime;

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
        // Class c in {0, 1, 2}: the sequence holds marker token 1 + c at a random position among filler tokens 4..29,
        // lengths 2..6 with padding id 0 after the end.
        static (long[] Ids, long[] Y) Batch(Random rng, int n)
        {
            var ids = new long[n * 6];
            var y = new long[n];
            for (int i = 0; i < n; i++)
            {
                int len = rng.Next(2, 7), c = rng.Next(3);
                for (int t = 0; t < len; t++) ids[i * 6 + t] = rng.Next(4, 30);
                ids[i * 6 + rng.Next(len)] = 1 + c;
                y[i] = c;
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
    public void TheImageTrainerRefusesATokenModelSayingHowToTrainIt()
    {
        var dir = Compile(new ArtifactOptions { Optimizer = OptimizerKind.Adam });
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        // six "pixels" per image, as many values as the model's six token ids, three classes: only the input type differs
        var data = new Acwa.Onnx.Data.ImageDataset(new byte[6 * 6], [0, 1, 2, 0, 1, 2], 1, 1, 6, ["a", "b", "c"], "six values");
        var policy = Acwa.Onnx.Weighting.PolicyFactory.Create("acwa", [2, 2, 2], 1);
        var e = Assert.Throws<ArgumentException>(() => new Trainer(runner, data, data, policy, new TrainerOptions()));
        Assert.Contains("token ids", e.Message);
        Assert.Contains("StepRunner.TrainStep(ReadOnlySpan<long>", e.Message);
    }
}
