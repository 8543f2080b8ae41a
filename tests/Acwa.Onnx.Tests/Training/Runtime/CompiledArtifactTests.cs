using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime;
using HostFedRunner = Acwa.Onnx.Tests.Training.Compiler.HostStepLoop;
using Runner = Acwa.Onnx.Training.Runtime.StepRunner;

namespace Acwa.Onnx.Tests.Training.Runtime;

/// <summary>
/// The runtime on artifacts written by the compiler: device-resident ping-pong must give what the compiler's own
/// host-fed reference loop gives (state round-tripping through the host each step), for every runner-fed control role.
/// </summary>
public class CompiledArtifactTests
{
    private static (float[] X, long[] Y) Batch(Random rng, int n, int features, int classes)
    {
        var x = Enumerable.Range(0, n * features).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var y = Enumerable.Range(0, n).Select(_ => (long)rng.Next(classes)).ToArray();
        return (x, y);
    }

    /// <summary>
    /// The artifact set a case name describes ("convbn" prefix: conv + batch norm, else an MLP; "sgd": SGD with momentum,
    /// else Adam; "accumulate2": 2 runs per step; "dropout": an MLP with Dropout 0.3), written to a new temp folder.
    /// </summary>
    private static (ArtifactSet Set, ArtifactOptions Options, string Dir, int Features) CompileCase(string name, string tempPrefix)
    {
        bool conv = name.StartsWith("convbn", StringComparison.Ordinal);
        var forward = conv ? Compiler.TestModels.ConvBn(3)
            : Compiler.TestModels.Mlp([5, 7, 3], 3, dropout: name.EndsWith("dropout", StringComparison.Ordinal) ? 0.3f : 0f);
        var options = new ArtifactOptions
        {
            Optimizer = name.Contains("sgd", StringComparison.Ordinal) ? OptimizerKind.Sgd : OptimizerKind.Adam,
            Momentum = 0.9f,
            LearningRate = 0.05f,
            AccumulationSteps = name.EndsWith("accumulate2", StringComparison.Ordinal) ? 2 : 1,
            ClassWeights = [1f, 2f, 0.5f],
        };
        var set = TrainingArtifacts.Compile(forward, options);
        var dir = Directory.CreateTempSubdirectory(tempPrefix).FullName;
        TrainingArtifacts.Write(set, dir);
        return (set, options, dir, conv ? 36 : 5);
    }

    public static TheoryData<string> Cases => new() { "adam", "sgd-momentum", "adam-accumulate2", "convbn-sgd" };

    [Theory]
    [MemberData(nameof(Cases))]
    public void PingPongMatchesHostFedReferenceOnCompiledArtifacts(string name)
    {
        var (set, options, dir, features) = CompileCase(name, "acwa-rt-compiled");

        using var runner = new Runner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        using var reference = new HostFedRunner(set);
        Assert.Equal(options.AccumulationSteps, runner.AccumulationSteps);
        var rng = new Random(21);
        for (int run = 0; run < 6; run++)
        {
            int n = run == 4 ? 3 : 8;
            var (x, y) = Batch(rng, n, features, 3);
            int k = options.AccumulationSteps;
            float expected = reference.Step(x, y, reset: run % k == 0, applies: run % k == k - 1);
            float loss = runner.TrainStep(x, y, n).Loss;
            Assert.Equal(expected, loss, 5);
        }
        Assert.Equal(6 / options.AccumulationSteps, runner.Step);
        Assert.Equal(6, runner.MicroStep);
        foreach (var t in runner.GetState())
        {
            var want = reference.State[t.Name].Data!;
            for (int i = 0; i < want.Length; i++)
                Assert.True(Math.Abs(want[i] - t.Data![i]) <= 1e-5 * (1 + Math.Abs(want[i])), $"{name}: {t.Name}[{i}] host-fed {want[i]}, runtime {t.Data[i]}");
        }
    }

    public static TheoryData<string> FixedCases => new() { "adam", "sgd-momentum", "adam-accumulate2", "convbn-sgd", "adam-dropout" };

    /// <summary>
    /// The CUDA-graph step's data path (fixed tensors filled by a copy run, outputs read back by another; StepRunnerOptions
    /// .CudaGraph without the capture) on the CPU: bit-identical to the plain step for every control role, dropout masks,
    /// batch norm, and a smaller batch in between (run the plain way), then evaluation and a checkpoint round trip.
    /// </summary>
    [Theory]
    [MemberData(nameof(FixedCases))]
    public void FixedFeedsStepIsBitIdenticalToThePlainStep(string name)
    {
        var (set, _, dir, features) = CompileCase(name, "acwa-rt-fixed");
        Assert.Equal(name.EndsWith("dropout", StringComparison.Ordinal), set.Manifest.DropoutMasks.Count > 0);
        using var plain = new Runner(dir, new StepRunnerOptions { IntraOpThreads = 1, DropoutSeed = 7 });
        using var fixedFeeds = new Runner(dir, new StepRunnerOptions { IntraOpThreads = 1, DropoutSeed = 7, FixedFeeds = true });
        var rng = new Random(5);
        for (int run = 0; run < 8; run++)
        {
            int n = run is 3 or 7 ? 3 : 8;
            if (run == 5) { plain.SetClassWeights([0.5f, 1f, 3f]); fixedFeeds.SetClassWeights([0.5f, 1f, 3f]); }
            if (run == 6) { plain.SetLearningRate(0.01f); fixedFeeds.SetLearningRate(0.01f); }
            var (x, y) = Batch(rng, n, features, 3);
            var a = plain.TrainStep(x, y, n);
            var (aLoss, aPred) = (a.Loss, a.Predictions.ToArray());
            var b = fixedFeeds.TrainStep(x, y, n);
            Assert.Equal(aLoss, b.Loss);
            Assert.Equal(aPred, b.Predictions.ToArray());
            Assert.Equal(plain.Step, b.Step);
        }
        var ps = plain.GetState();
        var fs = fixedFeeds.GetState();
        for (int i = 0; i < ps.Count; i++) Assert.Equal(ps[i].Data, fs[i].Data);
        var (ex, _) = Batch(rng, 5, features, 3);
        Assert.Equal(plain.Evaluate(ex, 5).Logits.ToArray(), fixedFeeds.Evaluate(ex, 5).Logits.ToArray());
        var ckpt = Path.Combine(dir, "fixed.acwa");
        fixedFeeds.SaveCheckpoint(ckpt);
        using var resumed = new Runner(dir, new StepRunnerOptions { IntraOpThreads = 1, DropoutSeed = 7, FixedFeeds = true, CheckpointPath = ckpt });
        var (x2, y2) = Batch(rng, 8, features, 3);
        Assert.Equal(plain.TrainStep(x2, y2, 8).Loss, resumed.TrainStep(x2, y2, 8).Loss);
    }

    [Fact]
    public void CudaGraphOnTheCpuIsRefusedWithAClearError()
    {
        var dir = Directory.CreateTempSubdirectory("acwa-rt-graph").FullName;
        TrainingArtifacts.Write(TrainingArtifacts.Compile(Compiler.TestModels.Mlp([5, 7, 3], 3), new ArtifactOptions()), dir);
        var e = Assert.Throws<ArgumentException>(() => new Runner(dir, new StepRunnerOptions { CudaGraph = true }));
        Assert.Contains("CudaGraph needs a CUDA device, not 'cpu'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EvalConfusionOutputAndExportWorkOnCompiledArtifacts()
    {
        var set = TrainingArtifacts.Compile(Compiler.TestModels.Mlp([5, 7, 3], 4), new ArtifactOptions { LearningRate = 0.05f });
        var dir = Directory.CreateTempSubdirectory("acwa-rt-compiled").FullName;
        TrainingArtifacts.Write(set, dir);
        Assert.NotEmpty(set.Manifest.EvalConfusionOutput);
        using var r = new Runner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var rng = new Random(8);
        for (int i = 0; i < 5; i++) { var (bx, by) = Batch(rng, 16, 5, 3); r.TrainStep(bx, by, 16); }
        var (x, y) = Batch(rng, 13, 5, 3);
        var ev = r.Evaluate(x, y, 13);
        var counts = new long[9];
        for (int i = 0; i < 13; i++) counts[y[i] * 3 + ev.Predictions[i]]++;
        Assert.Equal(counts, ev.Confusion.ToArray());
        var plain = r.Evaluate(x, 13);
        Assert.True(plain.Confusion.IsEmpty);
        var logits = plain.Logits.ToArray();

        var path = Path.Combine(dir, "exported.onnx");
        r.ExportInference(path);
        using var s = new InferenceSession(path);
        using var input = OrtValue.CreateTensorValueFromMemory(x, [13, 5]);
        using var outs = s.Run(SharedRunOptions.Default, [set.Manifest.InputName], [input], [s.OutputNames[0]]);
        Assert.Equal(logits, outs[0].GetTensorDataAsSpan<float>().ToArray());
    }
}
