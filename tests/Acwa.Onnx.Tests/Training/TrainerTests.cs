using System.Text.Json.Nodes;
using Acwa.Onnx.Data;
using Acwa.Onnx.IO;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Runtime;
using Acwa.Onnx.Weighting;
using Acwa.Onnx.Tests.Training.Runtime;

namespace Acwa.Onnx.Tests.Training;

public class TrainerTests
{
    private const int C = 3, H = 4, W = 4, D = H * W;

    /// <summary>Learnable synthetic images: class k brightens row k of a 4x4 image; noise elsewhere.</summary>
    internal static ImageDataset Images(int seed, params int[] perClass)
    {
        var rng = new Random(seed);
        int n = perClass.Sum();
        var pixels = new byte[n * D];
        var labels = new int[n];
        int i = 0;
        for (int k = 0; k < perClass.Length; k++)
            for (int j = 0; j < perClass[k]; j++, i++)
            {
                labels[i] = k;
                for (int p = 0; p < D; p++) pixels[i * D + p] = (byte)(p / W == k ? 150 + rng.Next(100) : rng.Next(120));
            }
        return new ImageDataset(pixels, labels, 1, H, W, ["a", "b", "c"], $"synthetic-{seed}");
    }

    private static readonly ImageDataset Train = Images(1, 60, 25, 10);
    private static readonly ImageDataset Val = Images(2, 15, 8, 6);
    private static readonly ImageDataset Test = Images(3, 20, 10, 10);

    private static (StepRunner, Trainer) Make(string dir, TrainerOptions options, string policy = "acwa")
    {
        var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var p = PolicyFactory.Create(policy, Train.ClassCounts().Select(c => (long)c).ToArray(), options.Epochs);
        return (runner, new Trainer(runner, Train, Val, p, options, Test));
    }

    [Fact]
    public void EpochLoopFeedsPolicyWeightsAndReportsTimings()
    {
        var dir = TestArtifacts.Create(D, C);
        var options = new TrainerOptions { Epochs = 4, BatchSize = 16, Seed = 5, Schedule = new ConstantSchedule(0.05) };
        var (runner, trainer) = Make(dir, options);
        using var _ = runner;
        int steps = 0, epochs = 0;
        trainer.StepCompleted += (_, s) => { steps++; Assert.True(float.IsFinite(s.Loss)); Assert.Equal(0.05, s.LearningRate, 6); };
        trainer.EpochCompleted += (_, e) => epochs++;
        var result = trainer.Run();

        int perEpoch = (Train.Count + 15) / 16; // 95 images -> 6 batches, the last one partial
        Assert.Equal(6, perEpoch);
        Assert.Equal(4 * perEpoch, steps);
        Assert.Equal(4, epochs);
        Assert.Equal(4 * perEpoch, runner.Step);
        Assert.Equal(4, result.Epochs.Count);
        Assert.All(PolicyWeights(result.Epochs[0]), w => Assert.Equal(1.0, w)); // ACWA starts uniform
        for (int e = 1; e < 4; e++) Assert.Equal(result.Epochs[e - 1].NextWeights, result.Epochs[e].Weights);
        Assert.Contains(result.Epochs.Skip(1), e => e.Weights.Distinct().Count() > 1); // the policy moved the weights
        Assert.Equal(runner.GetControl("class_weights"), result.Epochs[^1].Weights.Select(w => (float)w).ToArray());
        Assert.Equal(Val.Count, result.Epochs[0].Validation.Total);
        Assert.True(result.Epochs[^1].TrainLoss < result.Epochs[0].TrainLoss, "training should reduce the loss on learnable data");
        Assert.True(result.Epochs[^1].Validation.MacroF1 > 0.6, $"val macro-F1 {result.Epochs[^1].Validation.MacroF1}");
        Assert.NotNull(result.Test);
        Assert.Equal(Test.Count, result.Test!.Total);
        foreach (var e in result.Epochs)
        {
            var t = e.Timings;
            Assert.True(t.Train > 0 && t.ValidationForward > 0 && t.Metrics > 0 && t.Policy > 0);
            Assert.True(t.Total >= t.Train + t.ValidationForward + t.Metrics + t.Policy);
            Assert.InRange(t.AcwaOverheadFraction, 1e-9, 1);
            Assert.Equal(t.Metrics + t.Policy, t.AcwaOverhead);
        }
    }

    private static double[] PolicyWeights(EpochResult e) => e.Weights;

    /// <summary>An uninterrupted run: its result, final state and step count (the reference of the resume tests).</summary>
    private static (TrainingResult Result, List<HostTensor> State, long Step) Uninterrupted(string dir, TrainerOptions options)
    {
        var (runner, trainer) = Make(dir, options);
        using (runner) return (trainer.Run(), runner.GetState(), runner.Step);
    }

    /// <summary>The runner's state equals <paramref name="state"/> bit for bit, at the same step.</summary>
    private static void AssertSameState(List<HostTensor> state, long step, StepRunner runner)
    {
        var now = runner.GetState();
        for (int i = 0; i < state.Count; i++) Assert.Equal(state[i].Data, now[i].Data);
        Assert.Equal(step, runner.Step);
    }

    [Fact]
    public void InterruptedAndResumedRunEndsBitIdentical()
    {
        var dir = TestArtifacts.Create(D, C);
        var ckptA = Path.Combine(dir, "a.acwa");
        var ckptB = Path.Combine(dir, "b.acwa");
        TrainerOptions Opts(string ck) => new()
        {
            Epochs = 5, BatchSize = 16, Seed = 42, CheckpointPath = ck, Schedule = new WarmupSchedule(new CosineSchedule(0.05, 0.001), 1),
        };

        // uninterrupted
        var (straight, stateA, stepA) = Uninterrupted(dir, Opts(ckptA));

        // interrupted after epoch 2 (cancelled from the epoch event, after its checkpoint)
        var (rb, tb) = Make(dir, Opts(ckptB));
        using (rb)
        {
            using var cts = new CancellationTokenSource();
            tb.EpochCompleted += (_, e) => { if (e.Epoch == 1) cts.Cancel(); };
            Assert.ThrowsAny<OperationCanceledException>(() => tb.Run(cts.Token));
            Assert.Equal(2, tb.CompletedEpochs);
        }

        // a fresh process-like start: new runner, new policy, resume
        var (rc, tc) = Make(dir, Opts(ckptB));
        using (rc)
        {
            var history = tc.Resume(ckptB);
            Assert.Equal(2, history.Count);
            Assert.Equal(2, tc.CompletedEpochs);
            var resumed = tc.Run();
            Assert.Equal(3, resumed.Epochs.Count);
            AssertSameState(stateA, stepA, rc);
            for (int e = 0; e < 3; e++)
            {
                Assert.Equal(straight.Epochs[e + 2].TrainLoss, resumed.Epochs[e].TrainLoss);
                Assert.Equal(straight.Epochs[e + 2].Weights, resumed.Epochs[e].Weights);
                Assert.Equal(straight.Epochs[e + 2].Validation.MacroF1, resumed.Epochs[e].Validation.MacroF1);
            }
            Assert.Equal(straight.FinalWeights, resumed.FinalWeights);
        }
    }

    [Fact]
    public void RunResumedTwiceKeepsEveryEpochInItsCheckpointHistory()
    {
        var dir = TestArtifacts.Create(D, C);
        var ckpt = Path.Combine(dir, "twice.acwa");
        var options = new TrainerOptions { Epochs = 5, BatchSize = 16, Seed = 3, CheckpointPath = ckpt };
        static int[] Epochs(JsonArray h) => h.Select(e => (int)e!["epoch"]!).ToArray();
        void RunUntil(int stopAfterEpoch, int resumedEpochs)
        {
            var (r, t) = Make(dir, options);
            using (r)
            {
                if (resumedEpochs > 0) Assert.Equal(Enumerable.Range(0, resumedEpochs), Epochs(t.Resume(ckpt)));
                using var cts = new CancellationTokenSource();
                t.EpochCompleted += (_, e) => { if (e.Epoch == stopAfterEpoch) cts.Cancel(); };
                Assert.ThrowsAny<OperationCanceledException>(() => t.Run(cts.Token));
            }
        }
        RunUntil(1, 0); // epochs 0-1, then interrupted
        RunUntil(3, 2); // resumed: epochs 2-3, interrupted again
        var (rf, tf) = Make(dir, options);
        using (rf)
        {
            Assert.Equal([0, 1, 2, 3], Epochs(tf.Resume(ckpt))); // before the fix: only [2, 3], epochs of the last process
            tf.Run();
        }
        var (_, meta) = TensorFile.Load(ckpt);
        Assert.Equal([0, 1, 2, 3, 4], Epochs((JsonArray)meta["extra"]!["trainer"]!["history"]!));
    }

    private sealed class ExplodingSchedule(long from) : ILearningRateSchedule
    {
        public string Spec => "exploding";
        public double LearningRate(long step, long stepsPerEpoch, long totalSteps) => step >= from ? 1e38 : 0.01;
    }

    [Fact]
    public void NonFiniteLossStopsNamingEpochAndStepAndKeepsLastGoodCheckpoint()
    {
        var dir = TestArtifacts.Create(D, C);
        var ckpt = Path.Combine(dir, "last.acwa");
        var options = new TrainerOptions { Epochs = 5, BatchSize = 16, CheckpointPath = ckpt, Schedule = new ExplodingSchedule(8) };
        var (runner, trainer) = Make(dir, options);
        using var _ = runner;
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run());
        Assert.Equal(1, e.Epoch); // steps 0-5 are epoch 0; step 8 explodes the weights, the next loss is not finite
        Assert.Contains("epoch 2", e.Message); // 1-based in the message
        Assert.Contains($"batch {e.Batch + 1}", e.Message);
        Assert.Contains("the step's loss is", e.Reason);
        Assert.Contains(ckpt, e.Message);
        Assert.True(!double.IsFinite(e.Loss));
        // the checkpoint is the intact end of epoch 0
        var (tensors, meta) = TensorFile.Load(ckpt);
        Assert.Equal(1, (int)meta["extra"]!["trainer"]!["completed_epochs"]!);
        Assert.All(tensors, t => Assert.All(t.Data!, v => Assert.True(float.IsFinite(v))));
    }

    /// <summary>Learning rate 0.05, then <paramref name="high"/> from step <paramref name="from"/> on.</summary>
    private sealed class JumpSchedule(long from, double high) : ILearningRateSchedule
    {
        public string Spec => $"jump:{from}:{high}";
        public double LearningRate(long step, long stepsPerEpoch, long totalSteps) => step >= from ? high : 0.05;
    }

    [Fact]
    public void FiniteButExplodingLossTripsTheMovingMeanRuleAndNoCheckpointPassesItsBadState()
    {
        // An lr of 1e4 from step 8 on makes the loss huge but finite (the LDAM + SGD lr 0.1 failure): the moving mean of the
        // last 6 steps (one epoch here) passes 10 x L0, the run stops in epoch 2, and the checkpoint is epoch 1's.
        var dir = TestArtifacts.Create(D, C);
        var ckpt = Path.Combine(dir, "last.acwa");
        var options = new TrainerOptions { Epochs = 5, BatchSize = 16, CheckpointPath = ckpt, CheckpointEverySteps = 2, Schedule = new JumpSchedule(8, 1e4) };
        var (runner, trainer) = Make(dir, options);
        using var _ = runner;
        var losses = new List<float>();
        trainer.StepCompleted += (_, s) => losses.Add(s.Loss);
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run());
        Assert.True(double.IsFinite(e.Loss), e.Message);
        Assert.Contains("mean loss of the last 6 steps", e.Reason);
        Assert.Equal(1, e.Epoch);
        double l0 = Math.Max(losses[0], Math.Log(C));
        Assert.True(e.Loss > 10 * l0, $"{e.Loss} vs L0 {l0}");
        // Every checkpoint written passed the rule: the last one is at a step whose recent losses are all below 10 x L0.
        var meta = TensorFile.LoadMeta(ckpt)["extra"]!["trainer"]!;
        long at = (long)meta["global_step"]!;
        Assert.True(at < e.GlobalStep);
        Assert.All(((JsonArray)meta["divergence"]!["recent"]!).Select(v => (double)v!), v => Assert.True(v <= 10 * l0, $"{v}"));
        Assert.Equal(l0, (double)meta["divergence"]!["reference"]!, 6);
        Assert.Contains($"({(int)meta["completed_epochs"]!} finished epochs)", e.Message);
    }

    [Fact]
    public void DivergenceFactorZeroStopsOnlyOnNonFiniteLosses()
    {
        var dir = TestArtifacts.Create(D, C);
        var options = new TrainerOptions { Epochs = 3, BatchSize = 16, DivergenceFactor = 0, Schedule = new JumpSchedule(8, 1e4) };
        var (runner, trainer) = Make(dir, options);
        using var _ = runner;
        float max = 0;
        trainer.StepCompleted += (_, s) => max = Math.Max(max, s.Loss);
        try { trainer.Run(); }
        catch (TrainingDivergedException e) { Assert.Contains("the step's loss is", e.Reason); return; } // inf/NaN still stop
        Assert.True(max > 100, $"the jump should have raised the loss (max {max})");
    }

    [Fact]
    public void DivergenceMonitorRuleByHand()
    {
        var m = new DivergenceMonitor(factor: 10, window: 3, numClasses: 4); // ln 4 = 1.386
        Assert.Null(m.Observe(0.5f)); // first step: L0 = max(0.5, ln 4) = ln 4
        Assert.Equal(Math.Log(4), m.Reference!.Value, 12);
        Assert.Null(m.Observe(20f)); // window not full yet
        Assert.Null(m.Observe(20f)); // mean (0.5+20+20)/3 = 13.5 <= 13.86
        Assert.Contains("mean loss of the last 3 steps is 20", m.Observe(20f)); // 20 > 13.86
        Assert.Contains("NaN", m.Observe(float.NaN));
        Assert.Null(m.Check(13.8, "x"));
        Assert.Contains("x is 13.9", m.Check(13.9, "x"));
        var saved = m.Save();
        var n = new DivergenceMonitor(10, 3, 4);
        n.Load(saved);
        Assert.Equal(m.Reference, n.Reference);
        Assert.Contains("mean loss of the last 3 steps is 20", n.Observe(20f)); // the window came back with the state
        var large = new DivergenceMonitor(10, 2, 4);
        large.Observe(5f); // a first loss above ln C is L0
        Assert.Equal(5.0, large.Reference!.Value);
    }

    [Fact]
    public void OptionsRejectBadCheckpointAndDivergenceSettingsNamingTheField()
    {
        Assert.Contains("CheckpointPath", Assert.Throws<ArgumentException>(() => new TrainerOptions { CheckpointEverySteps = 5 }.Validate()).Message);
        Assert.Equal("DivergenceFactor", Assert.Throws<ArgumentOutOfRangeException>(() => new TrainerOptions { DivergenceFactor = 0.5 }.Validate()).ParamName);
        Assert.Equal("DivergenceWindow", Assert.Throws<ArgumentOutOfRangeException>(() => new TrainerOptions { DivergenceWindow = 0 }.Validate()).ParamName);
    }

    /// <summary>
    /// A run killed after global step <c>k</c> (its in-memory state lost, as with SIGKILL: the trainer is abandoned by an
    /// exception and a new runner and trainer start from the files) and resumed from its last checkpoint ends bit-identical
    /// to the uninterrupted run: state, per-epoch losses, weights, validation and test metrics. Checkpoints every 4 steps,
    /// 6 steps an epoch: kill points inside the first epoch before and after the first checkpoint, right after a
    /// checkpoint, at the last step of an epoch (its checkpoint holds "all batches done, validation pending"), in later epochs.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(6)]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(17)]
    public void RunKilledAtAnyStepResumesFromItsMidEpochCheckpointBitIdentical(int killAfterStep)
    {
        var dir = TestArtifacts.Create(D, C);
        var ckptA = Path.Combine(dir, "a.acwa");
        var ckptB = Path.Combine(dir, "b.acwa");
        TrainerOptions Opts(string ck) => new()
        {
            Epochs = 3, BatchSize = 16, Seed = 9, CheckpointPath = ck, CheckpointEverySteps = 4,
            Schedule = new WarmupSchedule(new CosineSchedule(0.05, 0.001), 1),
        };
        var (straight, stateA, stepA) = Uninterrupted(dir, Opts(ckptA));

        var (rb, tb) = Make(dir, Opts(ckptB));
        using (rb)
        {
            tb.StepCompleted += (_, s) => { if (s.GlobalStep == killAfterStep) throw new SimulatedKill(); };
            Assert.Throws<SimulatedKill>(() => tb.Run());
        }
        var (rc, tc) = Make(dir, Opts(ckptB));
        using (rc)
        {
            var history = File.Exists(ckptB) ? tc.Resume(ckptB) : [];
            long expectedStep = killAfterStep / 4 * 4; // the last checkpoint
            Assert.Equal(expectedStep, tc.GlobalStep);
            if (killAfterStep >= 4) Assert.Equal(expectedStep, rc.Step);
            var resumed = tc.Run();
            AssertSameState(stateA, stepA, rc);
            int first = straight.Epochs.Count - resumed.Epochs.Count;
            Assert.Equal(history.Count, first);
            for (int e = 0; e < resumed.Epochs.Count; e++)
            {
                Assert.Equal(straight.Epochs[e + first].TrainLoss, resumed.Epochs[e].TrainLoss);
                Assert.Equal(straight.Epochs[e + first].TrainAccuracy, resumed.Epochs[e].TrainAccuracy);
                Assert.Equal(straight.Epochs[e + first].LearningRate, resumed.Epochs[e].LearningRate);
                Assert.Equal(straight.Epochs[e + first].Weights, resumed.Epochs[e].Weights);
                Assert.Equal(straight.Epochs[e + first].NextWeights, resumed.Epochs[e].NextWeights);
                Assert.Equal(straight.Epochs[e + first].ValidationConfusion.ToArray(), resumed.Epochs[e].ValidationConfusion.ToArray());
            }
            Assert.Equal(straight.TestConfusion!.ToArray(), resumed.TestConfusion!.ToArray());
            Assert.Equal(straight.FinalWeights, resumed.FinalWeights);
        }
    }

    private sealed class SimulatedKill : Exception;

    /// <summary>
    /// Cancellation (what SIGINT / SIGTERM do in <c>acwa train</c>) stops at the next step boundary with a checkpoint of that
    /// exact point: mid-epoch, and after an epoch's last step (validation pending); the resumed run is bit-identical.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    [InlineData(11)]
    public void CancelledRunWritesACheckpointAtTheStepBoundaryAndResumesBitIdentical(int cancelAfterStep)
    {
        var dir = TestArtifacts.Create(D, C);
        var ckptA = Path.Combine(dir, "a.acwa");
        var ckptB = Path.Combine(dir, "b.acwa");
        TrainerOptions Opts(string ck) => new() { Epochs = 3, BatchSize = 16, Seed = 3, CheckpointPath = ck, Schedule = new ConstantSchedule(0.05) };
        var (straight, stateA, stepA) = Uninterrupted(dir, Opts(ckptA));

        var (rb, tb) = Make(dir, Opts(ckptB));
        using (rb)
        {
            using var cts = new CancellationTokenSource();
            tb.StepCompleted += (_, s) => { if (s.GlobalStep == cancelAfterStep) cts.Cancel(); };
            var e = Assert.Throws<TrainingInterruptedException>(() => tb.Run(cts.Token));
            Assert.Equal(cancelAfterStep, e.GlobalStep);
            Assert.Equal(Path.GetFullPath(ckptB), e.Checkpoint);
            Assert.Equal((cancelAfterStep - 1) / 6, e.Epoch);
            Assert.Equal((cancelAfterStep - 1) % 6 + 1, e.NextBatch); // after an epoch's last step: 6 = validation pending
            Assert.Contains($"epoch {e.Epoch + 1}", e.Message);
            var position = TensorFile.LoadMeta(ckptB)["extra"]!["trainer"]!["position"]!;
            Assert.Equal(e.NextBatch, (int)position["next_batch"]!);
        }
        var (rc, tc) = Make(dir, Opts(ckptB));
        using (rc)
        {
            tc.Resume(ckptB);
            Assert.Equal(((cancelAfterStep - 1) / 6, (cancelAfterStep - 1) % 6 + 1), tc.ResumePosition);
            var resumed = tc.Run();
            AssertSameState(stateA, stepA, rc);
            Assert.Equal(straight.Epochs[^1].TrainLoss, resumed.Epochs[^1].TrainLoss);
            Assert.Equal(straight.TestConfusion!.ToArray(), resumed.TestConfusion!.ToArray());
        }
    }

    [Fact]
    public void ResumeRejectsAnotherConfigurationNamingTheField()
    {
        var dir = TestArtifacts.Create(D, C);
        var ckpt = Path.Combine(dir, "c.acwa");
        var (r1, t1) = Make(dir, new TrainerOptions { Epochs = 2, BatchSize = 16, CheckpointPath = ckpt });
        using (r1) t1.Run();
        var (r2, t2) = Make(dir, new TrainerOptions { Epochs = 2, BatchSize = 32, CheckpointPath = ckpt });
        using (r2)
        {
            var ex = Assert.Throws<InvalidDataException>(() => t2.Resume(ckpt));
            Assert.Contains("batch_size", ex.Message);
            Assert.Equal(0, r2.Step); // runner untouched
        }
        var (r3, t3) = Make(dir, new TrainerOptions { Epochs = 2, BatchSize = 16 }, policy: "inv");
        using (r3) Assert.Contains("policy_spec", Assert.Throws<InvalidDataException>(() => t3.Resume(ckpt)).Message);
    }

    [Fact]
    public void MismatchedDataIsRejected()
    {
        var dir = TestArtifacts.Create(D + 1, C);
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var p = PolicyFactory.Create("acwa", [60, 25, 10], 2);
        var e = Assert.Throws<ArgumentException>(() => new Trainer(runner, Train, Val, p, new TrainerOptions()));
        Assert.Contains("16 values per image, the model takes 17", e.Message);
    }
}
