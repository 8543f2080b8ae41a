using System.Text.Json.Nodes;
using Acwa.Onnx.Data;
using Acwa.Onnx.Distributed;
using Acwa.Onnx.IO;
using Acwa.Onnx.Metrics;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;
using Acwa.Onnx.Weighting;
using Acwa.Onnx.Tests.Training.Runtime;

namespace Acwa.Onnx.Tests.Training;

/// <summary>
/// <see cref="TrainerOptions.Feedback"/> = <see cref="FeedbackSource.Training"/> (issue 25): the policy is fed the report of the
/// epoch's training predictions, the validation split is still evaluated and reported, and a run killed or cancelled
/// mid-epoch resumes bit-identical (the checkpoint carries the epoch's partial training confusion counts).
/// </summary>
public class TrainerFeedbackTests
{
    private const int C = 3, D = 16;
    private static readonly ImageDataset Train = TrainerTests.Images(1, 60, 25, 10);
    private static readonly ImageDataset Val = TrainerTests.Images(2, 15, 8, 6);
    private static readonly ImageDataset Test = TrainerTests.Images(3, 20, 10, 10);
    private static long[] TrainCounts => Train.ClassCounts().Select(c => (long)c).ToArray();

    /// <summary>A policy that records every feedback it is given and otherwise is the policy it wraps.</summary>
    private sealed class Recording(IClassWeightPolicy inner) : IClassWeightPolicy
    {
        public List<EpochFeedback> Feedback { get; } = [];
        public string Spec => inner.Spec;
        public int NumClasses => inner.NumClasses;
        public ReadOnlySpan<double> Current => inner.Current;
        public int LastEpoch => inner.LastEpoch;
        public double[] Update(EpochFeedback feedback) { Feedback.Add(feedback); return inner.Update(feedback); }
        public JsonObject SaveState() => inner.SaveState();
        public void LoadState(JsonObject state) => inner.LoadState(state);
    }

    private static (StepRunner Runner, Trainer Trainer, Recording Policy) Make(string dir, TrainerOptions options, string policy = "acwa")
    {
        var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var p = new Recording(PolicyFactory.Create(policy, TrainCounts, options.Epochs));
        return (runner, new Trainer(runner, Train, Val, p, options, Test), p);
    }

    /// <summary>
    /// The training predictions of every epoch recomputed outside the trainer: a fresh runner from the same artifacts takes
    /// the same steps (same batches, class weights and learning rate) and its predictions are counted here.
    /// </summary>
    private static List<ConfusionMatrix> RecomputedTrainingConfusion(string dir, TrainerOptions options, TrainingResult result, double lr)
    {
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var loader = new BatchLoader(Train, new BatchLoaderOptions(options.BatchSize, Shuffle: true, options.DropLast, options.Seed, null, null));
        runner.SetLearningRate((float)lr);
        var matrices = new List<ConfusionMatrix>();
        foreach (var epoch in result.Epochs)
        {
            runner.SetClassWeights(epoch.Weights.Select(w => (float)w).ToArray());
            var cm = new ConfusionMatrix(C);
            foreach (var batch in loader.Epoch(epoch.Epoch))
            {
                using (batch)
                {
                    var step = runner.TrainStep(batch.Images, batch.Labels, batch.Count);
                    cm.Accumulate(batch.Labels, step.Predictions);
                }
            }
            matrices.Add(cm);
        }
        return matrices;
    }

    [Fact]
    public void TrainingFeedbackFeedsThePolicyTheReportOfTheEpochsTrainingPredictions()
    {
        var dir = TestArtifacts.Create(D, C);
        var options = new TrainerOptions { Epochs = 3, BatchSize = 16, Seed = 5, Schedule = new ConstantSchedule(0.05), Feedback = FeedbackSource.Training };
        var (runner, trainer, policy) = Make(dir, options);
        TrainingResult result;
        using (runner) result = trainer.Run();

        var expected = RecomputedTrainingConfusion(dir, options, result, 0.05);
        Assert.Equal(3, policy.Feedback.Count);
        for (int e = 0; e < 3; e++)
        {
            var f = policy.Feedback[e];
            var report = ClassificationReport.Create(expected[e]);
            Assert.Equal(FeedbackSource.Training, f.Source);
            Assert.Equal(e, f.Epoch);
            Assert.Equal(TrainCounts, f.Support); // every training sample is predicted once per epoch (no drop-last)
            Assert.Equal(TrainCounts, f.TrainCounts);
            Assert.Equal(report.Classes.Select(c => c.F1).ToArray(), f.F1);
            Assert.Equal(report.Classes.Select(c => c.Recall).ToArray(), f.Recall);
            Assert.Equal(report.Classes.Select(c => c.Precision).ToArray(), f.Precision);
            // The accuracy the epoch reports is the same predictions' accuracy.
            Assert.Equal((double)expected[e].Correct / expected[e].Total, result.Epochs[e].TrainAccuracy);
            // The validation split is still evaluated and reported, not fed to the policy.
            Assert.Equal(Val.Count, result.Epochs[e].Validation.Total);
            Assert.Equal(Val.Count, result.Epochs[e].ValidationConfusion.Total);
        }
        Assert.Contains(result.Epochs.Skip(1), e => e.Weights.Distinct().Count() > 1); // training F1 moved the weights
    }

    [Fact]
    public void ValidationFeedbackIsTheDefaultAndBothSourcesReportTheSameValidationSplit()
    {
        var dir = TestArtifacts.Create(D, C);
        var byValidation = new TrainerOptions { Epochs = 2, BatchSize = 16, Seed = 5, Schedule = new ConstantSchedule(0.05) };
        Assert.Equal(FeedbackSource.Validation, byValidation.Feedback);
        var (rv, tv, pv) = Make(dir, byValidation);
        TrainingResult v;
        using (rv) v = tv.Run();
        var (rt, tt, _) = Make(dir, byValidation with { Feedback = FeedbackSource.Training });
        TrainingResult t;
        using (rt) t = tt.Run();

        for (int e = 0; e < 2; e++)
        {
            Assert.Equal(FeedbackSource.Validation, pv.Feedback[e].Source);
            Assert.Equal(v.Epochs[e].Validation.Classes.Select(c => c.F1).ToArray(), pv.Feedback[e].F1);
        }
        // Epoch 1 trains with the policy's first weights (uniform for acwa) in both runs: the same model, so the same
        // validation confusion matrix is reported whichever split feeds the policy.
        Assert.Equal(v.Epochs[0].ValidationConfusion.ToArray(), t.Epochs[0].ValidationConfusion.ToArray());
        Assert.Equal(v.Epochs[0].TrainLoss, t.Epochs[0].TrainLoss);
        Assert.NotEqual(v.Epochs[0].NextWeights, t.Epochs[0].NextWeights); // fed from other metrics
    }

    private sealed class SimulatedKill : Exception;

    /// <summary>
    /// Killed after any step (the last mid-epoch checkpoint, every 4 steps, holds the epoch's partial training confusion
    /// counts) or cancelled after an epoch's last step (validation pending), the resumed run ends bit-identical to an
    /// uninterrupted one, and feeds the policy the same training reports.
    /// </summary>
    [Theory]
    [InlineData(5, false)]
    [InlineData(8, false)]
    [InlineData(13, false)]
    [InlineData(6, true)]
    [InlineData(9, true)]
    public void RunInterruptedMidEpochResumesBitIdenticalWithTrainingFeedback(int stopAfterStep, bool cancel)
    {
        var dir = TestArtifacts.Create(D, C);
        var ckptA = Path.Combine(dir, "a.acwa");
        var ckptB = Path.Combine(dir, "b.acwa");
        TrainerOptions Opts(string ck) => new()
        {
            Epochs = 3, BatchSize = 16, Seed = 9, CheckpointPath = ck, CheckpointEverySteps = 4, Feedback = FeedbackSource.Training,
            Schedule = new WarmupSchedule(new CosineSchedule(0.05, 0.001), 1),
        };
        var (ra, ta, pa) = Make(dir, Opts(ckptA));
        TrainingResult straight;
        List<HostTensor> stateA;
        using (ra) { straight = ta.Run(); stateA = ra.GetState(); }

        var (rb, tb, _) = Make(dir, Opts(ckptB));
        using (rb)
        {
            using var cts = new CancellationTokenSource();
            tb.StepCompleted += (_, s) =>
            {
                if (s.GlobalStep != stopAfterStep) return;
                if (cancel) cts.Cancel();
                else throw new SimulatedKill();
            };
            if (cancel) Assert.Throws<TrainingInterruptedException>(() => tb.Run(cts.Token));
            else Assert.Throws<SimulatedKill>(() => tb.Run());
        }
        var position = TensorFile.LoadMeta(ckptB)["extra"]!["trainer"]!;
        Assert.Equal("training", (string)position["feedback"]!);
        if (position["position"] is JsonObject p && (int)p["next_batch"]! > 0)
            Assert.Equal((long)p["samples"]!, ((JsonArray)p["train_confusion"]!).Sum(n => (long)n!));

        var (rc, tc, pc) = Make(dir, Opts(ckptB));
        using (rc)
        {
            var history = tc.Resume(ckptB);
            var resumed = tc.Run();
            var now = rc.GetState();
            for (int i = 0; i < stateA.Count; i++) Assert.Equal(stateA[i].Data, now[i].Data);
            int first = straight.Epochs.Count - resumed.Epochs.Count;
            Assert.Equal(history.Count, first);
            for (int e = 0; e < resumed.Epochs.Count; e++)
            {
                Assert.Equal(straight.Epochs[e + first].TrainLoss, resumed.Epochs[e].TrainLoss);
                Assert.Equal(straight.Epochs[e + first].TrainAccuracy, resumed.Epochs[e].TrainAccuracy);
                Assert.Equal(straight.Epochs[e + first].NextWeights, resumed.Epochs[e].NextWeights);
                Assert.Equal(straight.Epochs[e + first].ValidationConfusion.ToArray(), resumed.Epochs[e].ValidationConfusion.ToArray());
                Assert.Equal(pa.Feedback[e + first].F1, pc.Feedback[e].F1);
                Assert.Equal(pa.Feedback[e + first].Support, pc.Feedback[e].Support);
            }
            Assert.Equal(straight.FinalWeights, resumed.FinalWeights);
        }
    }

    [Fact]
    public void ResumeWithAnotherFeedbackSourceIsRefusedAndOldValidationCheckpointsStillLoad()
    {
        var dir = TestArtifacts.Create(D, C);
        var ckpt = Path.Combine(dir, "v.acwa");
        var validation = new TrainerOptions { Epochs = 2, BatchSize = 16, Seed = 4, CheckpointPath = ckpt, CheckpointEverySteps = 4 };
        var (r1, t1, _) = Make(dir, validation);
        using (r1)
        {
            t1.StepCompleted += (_, s) => { if (s.GlobalStep == 5) throw new SimulatedKill(); };
            Assert.Throws<SimulatedKill>(() => t1.Run());
        }
        var (r2, t2, _) = Make(dir, validation with { Feedback = FeedbackSource.Training });
        using (r2)
        {
            var e = Assert.Throws<InvalidDataException>(() => t2.Resume(ckpt));
            Assert.Contains("trainer.feedback is validation, this run has training", e.Message);
            Assert.Equal(0, r2.Step); // runner untouched
        }

        // A checkpoint from before the option (no trainer.feedback, no position.train_confusion) resumes a validation run.
        var (tensors, meta) = TensorFile.Load(ckpt);
        var trainer = (JsonObject)meta["extra"]!["trainer"]!;
        Assert.Equal("validation", (string)trainer["feedback"]!);
        Assert.Null(trainer["position"]!["train_confusion"]);
        trainer.Remove("feedback");
        var old = Path.Combine(dir, "old.acwa");
        TensorFile.Save(old, tensors, meta);
        var (r3, t3, _) = Make(dir, validation with { CheckpointPath = old });
        using (r3)
        {
            t3.Resume(old);
            Assert.Equal((0, 4), t3.ResumePosition);
            Assert.Equal(2, t3.Run().Epochs.Count);
        }
        var (r4, t4, _) = Make(dir, validation with { CheckpointPath = old, Feedback = FeedbackSource.Training });
        using (r4) Assert.Contains("trainer.feedback is validation", Assert.Throws<InvalidDataException>(() => t4.Resume(old)).Message);
    }

    [Fact]
    public void MidEpochCheckpointOfATrainingFeedbackRunWithoutItsCountsIsRefusedNamingTheField()
    {
        var dir = TestArtifacts.Create(D, C);
        var ckpt = Path.Combine(dir, "t.acwa");
        var options = new TrainerOptions { Epochs = 2, BatchSize = 16, Seed = 4, CheckpointPath = ckpt, CheckpointEverySteps = 4, Feedback = FeedbackSource.Training };
        var (r1, t1, _) = Make(dir, options);
        using (r1)
        {
            t1.StepCompleted += (_, s) => { if (s.GlobalStep == 5) throw new SimulatedKill(); };
            Assert.Throws<SimulatedKill>(() => t1.Run());
        }
        var (tensors, meta) = TensorFile.Load(ckpt);
        var position = (JsonObject)meta["extra"]!["trainer"]!["position"]!;
        Assert.Equal(4 * 16, ((JsonArray)position["train_confusion"]!).Sum(n => (long)n!));
        foreach (var (bad, expected) in new (JsonNode?, string)[] { (null, "is missing"), (new JsonArray(1, 2), "has 2 counts; 3 classes need 9"), (new JsonArray(1, 2, 3, 4, 5, 6, 7, 8, -9), "[8] is -9") })
        {
            position["train_confusion"] = bad;
            if (bad is null) position.Remove("train_confusion");
            var path = Path.Combine(dir, "bad.acwa");
            TensorFile.Save(path, tensors, meta);
            var (r, t, _) = Make(dir, options with { CheckpointPath = path });
            using (r) Assert.Contains($"trainer.position.train_confusion{(expected.StartsWith('[') ? "" : " ")}{expected}", Assert.Throws<InvalidDataException>(() => t.Resume(path)).Message);
        }
    }

    [Fact]
    public void OptionsRejectAnUndefinedFeedbackSourceNamingTheField()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new TrainerOptions { Feedback = (FeedbackSource)7 }.Validate());
        Assert.Equal("Feedback", e.ParamName);
    }

    /// <summary>Artifacts with a split step (what a distributed run needs), for the trainer's 1x4x4 images and 3 classes.</summary>
    private static string SplitStepArtifacts()
    {
        var dir = Directory.CreateTempSubdirectory("acwa-fb-split").FullName;
        TrainingArtifacts.Generate(Onnx.Models.Mlp.Build(classes: C, hidden: [8], channels: 1, height: 4, width: 4, seed: 3),
            new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0.05f, Momentum = 0.9f, NumClasses = C, SplitStep = true }, dir);
        return dir;
    }

    /// <summary>A world of two identical ranks: every all-reduce doubles its data (a twin rank contributed the same).</summary>
    private sealed class TwinCommunicator : ICommunicator
    {
        public int Rank => 0;
        public int Size => 2;
        public void AllReduceSum(Span<float> values) { foreach (ref var v in values) v *= 2; }
        public void AllReduceSum(Span<double> values) { foreach (ref var v in values) v *= 2; }
        public void AllReduceSum(Span<long> values) { foreach (ref var v in values) v *= 2; }
        public void Broadcast(Span<float> values, int root = 0) { }
        public void Broadcast(Span<double> values, int root = 0) { }
        public void Broadcast(Span<long> values, int root = 0) { }
        public void Broadcast(Span<byte> values, int root = 0) { }
        public void Abort(int exitCode, string message) => throw new InvalidOperationException(message);
        public void Dispose() { }
    }

    [Fact]
    public void DistributedTrainingFeedbackIsAllReducedOncePerEpoch()
    {
        var dir = SplitStepArtifacts();
        var options = new TrainerOptions { Epochs = 2, BatchSize = 16, Seed = 5, Schedule = new ConstantSchedule(0.05), Feedback = FeedbackSource.Training, Communicator = new TwinCommunicator() };
        var (runner, trainer, policy) = Make(dir, options);
        var rows = new long[2]; // rows of the global batches per epoch (all-reduced, so twice this rank's slices)
        trainer.StepCompleted += (_, s) => rows[s.Epoch] += s.BatchSize;
        using (runner) trainer.Run();
        Assert.Equal(2, policy.Feedback.Count);
        for (int e = 0; e < 2; e++)
        {
            var f = policy.Feedback[e];
            Assert.Equal(FeedbackSource.Training, f.Source);
            // This rank's counts plus its twin's, added once at the epoch's end (not per step, not twice).
            Assert.Equal(rows[e], f.Support.Sum());
            Assert.All(f.Support, n => Assert.Equal(0, n % 2));
        }
    }

    [Theory]
    [InlineData(5)]
    [InlineData(9)]
    public void DistributedRunWithTrainingFeedbackResumesFromAMidEpochCheckpointBitIdentical(int killAfterStep)
    {
        var dir = SplitStepArtifacts();
        TrainerOptions Opts(string ck) => new()
        {
            Epochs = 2, BatchSize = 16, Seed = 9, CheckpointPath = Path.Combine(dir, ck), CheckpointEverySteps = 4, Feedback = FeedbackSource.Training,
            Schedule = new ConstantSchedule(0.05), Communicator = SingleProcessCommunicator.Instance,
        };
        var (ra, ta, pa) = Make(dir, Opts("a.acwa"));
        TrainingResult straight;
        using (ra) straight = ta.Run();
        var (rb, tb, _) = Make(dir, Opts("b.acwa"));
        using (rb)
        {
            tb.StepCompleted += (_, s) => { if (s.GlobalStep == killAfterStep) throw new SimulatedKill(); };
            Assert.Throws<SimulatedKill>(() => tb.Run());
        }
        var (rc, tc, pc) = Make(dir, Opts("b.acwa"));
        using (rc)
        {
            tc.Resume(Path.Combine(dir, "b.acwa"));
            Assert.NotNull(tc.ResumePosition);
            var resumed = tc.Run();
            int first = straight.Epochs.Count - resumed.Epochs.Count;
            for (int e = 0; e < resumed.Epochs.Count; e++)
            {
                Assert.Equal(pa.Feedback[e + first].Support, pc.Feedback[e].Support);
                Assert.Equal(pa.Feedback[e + first].F1, pc.Feedback[e].F1);
                Assert.Equal(straight.Epochs[e + first].NextWeights, resumed.Epochs[e].NextWeights);
            }
            Assert.Equal(TrainCounts, pc.Feedback[^1].Support);
            Assert.Equal(straight.FinalWeights, resumed.FinalWeights);
        }
    }
}
