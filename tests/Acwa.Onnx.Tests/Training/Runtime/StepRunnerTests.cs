using System.Text.Json.Nodes;
using Acwa.Onnx.IO;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Tests.Training.Runtime;

public class StepRunnerTests
{
    private const int D = 6, C = 3;
    private static readonly StepRunnerOptions Cpu1 = new() { IntraOpThreads = 1 };

    private static float[] Param(List<HostTensor> state, string name) => state.Single(t => t.Name == name).Data!;

    private static void AssertClose(double[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])), $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    [Fact]
    public void PingPongStepsMatchHostReference()
    {
        var dir = TestArtifacts.Create(D, C);
        using var r = new StepRunner(dir, Cpu1);
        var init = r.GetState();
        var reference = new HostReference(D, C, Param(init, "W"), Param(init, "b"));
        var cw = new[] { 1f, 2.5f, 0.5f };
        r.SetClassWeights(cw);
        r.SetLearningRate(0.05f);
        var rng = new Random(7);
        for (int step = 0; step < 7; step++)
        {
            var (x, y) = TestArtifacts.Batch(rng, 8, D, C);
            var res = r.TrainStep(x, y, 8);
            double refLoss = reference.Step(x, y, 8, 0.05, cw);
            Assert.Equal(refLoss, res.Loss, 4);
            Assert.Equal(step + 1, res.Step);
            Assert.Equal(8, res.Predictions.Length);
        }
        var s = r.GetState();
        AssertClose(reference.W, Param(s, "W"), 1e-4, "W");
        AssertClose(reference.B, Param(s, "b"), 1e-4, "b");
        AssertClose([reference.LossEma], Param(s, "loss_ema"), 1e-4, "loss_ema");
        Assert.Equal(7, r.Step);
        // the parameters really moved (else the comparison above proves nothing)
        Assert.True(Param(s, "W").Zip(Param(init, "W")).Max(p => Math.Abs(p.First - p.Second)) > 0.05f);
    }

    [Fact]
    public void PredictionsAreArgmaxOfPreStepLogits()
    {
        var dir = TestArtifacts.Create(D, C);
        using var r = new StepRunner(dir, Cpu1);
        var (x, y) = TestArtifacts.Batch(new Random(3), 5, D, C);
        var expected = r.Evaluate(x, 5).Predictions.ToArray();
        var res = r.TrainStep(x, y, 5);
        Assert.Equal(expected, res.Predictions.ToArray());
    }

    [Fact]
    public void PartialBatchesRebindAndStayCorrect()
    {
        var dir = TestArtifacts.Create(D, C);
        using var r = new StepRunner(dir, Cpu1);
        var init = r.GetState();
        var reference = new HostReference(D, C, Param(init, "W"), Param(init, "b"));
        var ones = new[] { 1f, 1f, 1f };
        var rng = new Random(11);
        foreach (var n in new[] { 8, 3, 8, 1, 5, 8 })
        {
            var (x, y) = TestArtifacts.Batch(rng, n, D, C);
            var res = r.TrainStep(x, y, n);
            Assert.Equal(n, res.Predictions.Length);
            Assert.Equal(reference.Step(x, y, n, 0.01, ones), res.Loss, 4);
        }
        AssertClose(reference.W, Param(r.GetState(), "W"), 1e-4, "W");
        var (ex, _) = TestArtifacts.Batch(rng, 2, D, C);
        var ev = r.Evaluate(ex, 2);
        Assert.Equal(2 * C, ev.Logits.Length);
        Assert.Equal(2, ev.Predictions.Length);
    }

    [Fact]
    public void EvaluateMatchesHostForward()
    {
        var dir = TestArtifacts.Create(D, C);
        using var r = new StepRunner(dir, Cpu1);
        var rng = new Random(5);
        for (int i = 0; i < 3; i++) { var (bx, by) = TestArtifacts.Batch(rng, 8, D, C); r.TrainStep(bx, by, 8); }
        var s = r.GetState();
        float[] w = Param(s, "W"), b = Param(s, "b");
        var (x, _) = TestArtifacts.Batch(rng, 4, D, C);
        var ev = r.Evaluate(x, 4);
        for (int i = 0; i < 4; i++)
        {
            int arg = 0; double best = double.NegativeInfinity;
            for (int k = 0; k < C; k++)
            {
                double z = b[k];
                for (int j = 0; j < D; j++) z += x[i * D + j] * w[j * C + k];
                Assert.Equal(z, ev.Logits[i * C + k], 4);
                if (z > best) { best = z; arg = k; }
            }
            Assert.Equal(arg, ev.Predictions[i]);
        }
    }

    [Fact]
    public void CheckpointRoundTripRestoresStateStepControlsAndMeta()
    {
        var dir = TestArtifacts.Create(D, C);
        var ckpt = Path.Combine(dir, "ck", "epoch1.acwa");
        List<HostTensor> saved;
        using (var r = new StepRunner(dir, Cpu1))
        {
            r.SetClassWeights([0.5f, 1f, 3f]);
            var rng = new Random(1);
            for (int i = 0; i < 3; i++) { var (x, y) = TestArtifacts.Batch(rng, 8, D, C); r.TrainStep(x, y, 8); }
            r.SaveCheckpoint(ckpt, new JsonObject { ["epoch"] = 1, ["note"] = "hi" });
            saved = r.GetState();
        }
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(ckpt)!, "*.tmp-*"));
        using var r2 = new StepRunner(dir, Cpu1 with { CheckpointPath = ckpt });
        Assert.Equal(3, r2.Step);
        Assert.Equal(new[] { 0.5f, 1f, 3f }, r2.GetControl("class_weights"));
        var loaded = r2.GetState();
        Assert.Equal(saved.Select(t => t.Name), loaded.Select(t => t.Name));
        for (int i = 0; i < saved.Count; i++) Assert.Equal(saved[i].Data, loaded[i].Data);
        using var r3 = new StepRunner(dir, Cpu1);
        var extra = r3.LoadCheckpoint(ckpt);
        Assert.Equal(1, (int)extra["epoch"]!);
        Assert.Equal("hi", (string)extra["note"]!);
    }

    [Fact]
    public void CorruptCheckpointIsDetectedWithClearError()
    {
        var dir = TestArtifacts.Create(D, C);
        var ckpt = Path.Combine(dir, "c.acwa");
        using var r = new StepRunner(dir, Cpu1);
        r.SaveCheckpoint(ckpt);
        var bytes = File.ReadAllBytes(ckpt);
        bytes[bytes.Length - 40] ^= 0x10; // a byte of tensor data
        File.WriteAllBytes(ckpt, bytes);
        var before = r.GetState();
        var e = Assert.Throws<InvalidDataException>(() => r.LoadCheckpoint(ckpt));
        Assert.Contains(ckpt, e.Message);
        Assert.Contains("checksum", e.Message);
        Assert.Equal(before[0].Data, r.GetState()[0].Data);
        var e2 = Assert.Throws<InvalidDataException>(() => new StepRunner(dir, Cpu1 with { CheckpointPath = ckpt }));
        Assert.Contains("checksum", e2.Message);
    }

    [Fact]
    public void CheckpointMissingTensorNamesIt()
    {
        var dir = TestArtifacts.Create(D, C);
        var ckpt = Path.Combine(dir, "c.acwa");
        using var r = new StepRunner(dir, Cpu1);
        r.SaveCheckpoint(ckpt);
        var (tensors, meta) = TensorFile.Load(ckpt);
        TensorFile.Save(ckpt, tensors.Where(t => t.Name != "W.v").ToList(), meta);
        var e = Assert.Throws<InvalidDataException>(() => r.LoadCheckpoint(ckpt));
        Assert.Contains("'W.v'", e.Message);
        Assert.Contains(ckpt, e.Message);
    }

    private static float[][] Run(StepRunner r, int seed, int from, int to)
    {
        var rng = new Random(seed);
        var all = new List<(float[], long[], int)>();
        for (int i = 0; i < to; i++) { int n = i % 4 == 3 ? 5 : 8; var (x, y) = TestArtifacts.Batch(rng, n, D, C); all.Add((x, y, n)); }
        var losses = new List<float[]>();
        for (int i = from; i < to; i++) losses.Add([r.TrainStep(all[i].Item1, all[i].Item2, all[i].Item3).Loss]);
        return [.. losses];
    }

    [Fact]
    public void ResumeFromCheckpointIsBitIdentical()
    {
        var dir = TestArtifacts.Create(D, C);
        List<HostTensor> straight;
        float[][] lossesStraight;
        using (var a = new StepRunner(dir, Cpu1))
        {
            lossesStraight = Run(a, 9, 0, 10);
            straight = a.GetState();
        }
        var ckpt = Path.Combine(dir, "mid.acwa");
        using (var b = new StepRunner(dir, Cpu1)) { Run(b, 9, 0, 4); b.SaveCheckpoint(ckpt); }
        using var c = new StepRunner(dir, Cpu1 with { CheckpointPath = ckpt });
        var lossesResumed = Run(c, 9, 4, 10);
        var resumed = c.GetState();
        for (int i = 0; i < straight.Count; i++) Assert.Equal(straight[i].Data, resumed[i].Data); // exact float equality
        Assert.Equal(lossesStraight[4..], lossesResumed);
        Assert.Equal(10, c.Step);
    }

    [Fact]
    public void SetStateThenGetStateRoundTripsAndRejectsBadInput()
    {
        var dir = TestArtifacts.Create(D, C);
        using var r = new StepRunner(dir, Cpu1);
        var s = r.GetState();
        var w = Param(s, "W");
        for (int i = 0; i < w.Length; i++) w[i] = i * 0.25f;
        r.SetState(s);
        Assert.Equal(w, Param(r.GetState(), "W"));
        var bad = s.Select(t => t.Name == "b" ? HostTensor.Of("b", [C + 1], new float[C + 1]) : t).ToList();
        var e = Assert.Throws<InvalidDataException>(() => r.SetState(bad));
        Assert.Contains("'b'", e.Message);
        var missing = s.Where(t => t.Name != "W.m").ToList();
        Assert.Contains("'W.m'", Assert.Throws<InvalidDataException>(() => r.SetState(missing)).Message);
    }

    [Fact]
    public void ExportedInferenceModelLoadsInPlainSessionWithTrainedWeights()
    {
        var dir = TestArtifacts.Create(D, C);
        using var r = new StepRunner(dir, Cpu1);
        var rng = new Random(2);
        for (int i = 0; i < 4; i++) { var (bx, by) = TestArtifacts.Batch(rng, 8, D, C); r.TrainStep(bx, by, 8); }
        var path = Path.Combine(dir, "out", "model.onnx");
        r.ExportInference(path);
        var (x, _) = TestArtifacts.Batch(rng, 3, D, C);
        var expected = r.Evaluate(x, 3).Logits.ToArray();
        using var s = new InferenceSession(path);
        using var input = OrtValue.CreateTensorValueFromMemory(x, [3, D]);
        using var outs = s.Run(SharedRunOptions.Default, ["x"], [input], ["logits"]);
        Assert.Equal(expected, outs[0].GetTensorDataAsSpan<float>().ToArray());
        // and not the initial weights
        using var s0 = new InferenceSession(Path.Combine(dir, "inference_model.onnx"));
        using var outs0 = s0.Run(SharedRunOptions.Default, ["x"], [input], ["logits"]);
        Assert.NotEqual(expected, outs0[0].GetTensorDataAsSpan<float>().ToArray());
    }

    [Fact]
    public void BadBatchesAndControlsGiveNamedErrors()
    {
        var dir = TestArtifacts.Create(D, C);
        using var r = new StepRunner(dir, Cpu1);
        var (x, y) = TestArtifacts.Batch(new Random(1), 4, D, C);
        Assert.Contains("expected batch size 4 x 6", Assert.Throws<ArgumentException>(() => r.TrainStep(x.AsSpan(1), y, 4)).Message);
        y[2] = 3;
        Assert.Contains("y[2] = 3", Assert.Throws<ArgumentException>(() => r.TrainStep(x, y, 4)).Message);
        Assert.Contains("expected C = 3", Assert.Throws<ArgumentException>(() => r.SetClassWeights([1f, 2f])).Message);
        Assert.Contains("[1] = NaN", Assert.Throws<ArgumentException>(() => r.SetClassWeights([1f, float.NaN, 1f])).Message);
        Assert.Contains("focal_gamma", Assert.Throws<KeyNotFoundException>(() => r.SetControl("focal_gamma", [2f])).Message);
        Assert.Equal(0, r.Step);
    }

    [Fact]
    public void ManifestNotMatchingGraphIsRejectedNamingTheField()
    {
        var dir = TestArtifacts.Create(D, C);
        var mpath = Path.Combine(dir, "manifest.json");
        var m = ArtifactManifest.Load(mpath);
        var broken = m with { State = [.. m.State.Select(s => s.Name == "b.v" ? s with { Input = "b.vv" } : s)] };
        broken.Save(mpath);
        var e = Assert.Throws<InvalidDataException>(() => new StepRunner(dir, Cpu1));
        Assert.Contains("'b.vv'", e.Message);
        (m with { Controls = [.. m.Controls.Where(c => c.Role != "lr")] }).Save(mpath);
        Assert.Contains("'lr'", Assert.Throws<InvalidDataException>(() => new StepRunner(dir, Cpu1)).Message);
    }

    [Fact]
    public void UserSessionOptionsAreUsedAndNotDisposed()
    {
        var dir = TestArtifacts.Create(D, C);
        // Visible from outside: a session built with these options writes its optimised graph to OptimizedModelFilePath
        // when it is created (our default options never do).
        var profiles = Directory.CreateTempSubdirectory("acwa-user-options").FullName;
        try
        {
            var written = Path.Combine(profiles, "optimized.onnx");
            using var so = new SessionOptions { IntraOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, OptimizedModelFilePath = written };
            using (var r = new StepRunner(dir, new StepRunnerOptions { SessionOptions = so }))
            {
                Assert.True(File.Exists(written), "the runner's sessions were not created with the caller's options");
                var (x, y) = TestArtifacts.Batch(new Random(1), 4, D, C);
                Assert.True(float.IsFinite(r.TrainStep(x, y, 4).Loss));
            }
            Assert.NotEmpty(Acwa.Onnx.Graphs.OnnxModel.Load(written).Graph.Node);
            File.Delete(written);
            using var again = new StepRunner(dir, new StepRunnerOptions { SessionOptions = so }); // not disposed by the first runner: still usable
            Assert.Equal(0, again.Step);
            Assert.True(File.Exists(written));
        }
        finally { Directory.Delete(profiles, recursive: true); }
    }

    [Fact]
    public void CudaDeviceWithCpuOnlyUserOptionsExplainsTheMismatch()
    {
        var dir = TestArtifacts.Create(D, C);
        using var so = new SessionOptions { IntraOpNumThreads = 1 };
        var e = Assert.Throws<InvalidOperationException>(() => new StepRunner(dir, new StepRunnerOptions { SessionOptions = so, Device = Device.Cuda(0) }));
        Assert.Contains("cannot allocate state on 'cuda:0'", e.Message);
    }
}
