using Acwa.Onnx.Data;
using Acwa.Onnx.IO;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runs;
using Acwa.Onnx.Training.Runtime;
using Acwa.Onnx.Weighting;
using Acwa.Onnx.Tests.Training.Runtime;

namespace Acwa.Onnx.Tests.Training;

/// <summary>
/// <c>la-recall</c> in the trainer: its offsets reach the <c>log_prior</c> control of a compiled logit-adjusted training graph
/// every epoch, eta = 0 is static logit adjustment bit for bit, a resumed run is bit-identical, another loss is refused.
/// </summary>
public class AdaptiveLogitAdjustmentTrainerTests
{
    private static readonly ImageDataset Train = TrainerTests.Images(1, 60, 25, 10);
    private static readonly ImageDataset Val = TrainerTests.Images(2, 15, 8, 6);
    private static readonly long[] Counts = Train.ClassCounts().Select(c => (long)c).ToArray();
    private static readonly float[] LogPrior32 = ClassPriors.LogPriors(Counts).Select(v => (float)v).ToArray();

    /// <summary>A small MLP compiled with the logit-adjusted loss and the training log prior, as TrainingRun compiles it.</summary>
    private static readonly Lazy<string> LaArtifacts = new(() =>
    {
        var dir = Directory.CreateTempSubdirectory("acwa-la-recall").FullName;
        TrainingArtifacts.Generate(Compiler.TestModels.Mlp([16, 8, 3], 7),
            new ArtifactOptions { Loss = LossKind.LogitAdjusted, LogPrior = LogPrior32, LearningRate = 0.05f }, dir);
        return dir;
    });

    private static TrainerOptions Options(int epochs = 4, string? checkpoint = null) =>
        new() { Epochs = epochs, BatchSize = 16, Seed = 5, Schedule = new ConstantSchedule(0.05), CheckpointPath = checkpoint };

    private static (StepRunner Runner, Trainer Trainer) Make(string policy, TrainerOptions options)
    {
        var runner = new StepRunner(LaArtifacts.Value, new StepRunnerOptions { IntraOpThreads = 1 });
        return (runner, new Trainer(runner, Train, Val, PolicyFactory.Create(policy, Counts, options.Epochs), options));
    }

    private static float[] Float(ReadOnlySpan<double> values) => values.ToArray().Select(v => (float)v).ToArray();

    [Fact]
    public void TheLogPriorControlHoldsThePolicysOffsetsInEveryEpoch()
    {
        var (runner, trainer) = Make("la-recall:eta=2", Options());
        using var _ = runner;
        var policy = (ILogitOffsetPolicy)trainer.Policy;
        Assert.Equal(LogPrior32, runner.GetControl(ControlRoles.LogPrior)); // static LA's log prior until the first update
        var expected = new List<float[]> { LogPrior32 };
        trainer.EpochCompleted += (_, _) => expected.Add(Float(policy.LogitOffsets)); // the next epoch's offsets
        var seen = new Dictionary<int, float[]>();
        trainer.StepCompleted += (_, s) =>
        {
            var now = runner.GetControl(ControlRoles.LogPrior);
            if (seen.TryGetValue(s.Epoch, out var first)) Assert.Equal(first, now); // constant within an epoch
            else seen[s.Epoch] = now;
        };
        var result = trainer.Run();
        Assert.Equal(4, seen.Count);
        for (int e = 0; e < 4; e++) Assert.Equal(expected[e], seen[e]);
        Assert.All(result.Epochs, r => Assert.All(r.Weights, w => Assert.Equal(1.0, w)));
        // The validation recall differed between classes, so the offsets moved away from the prior.
        Assert.Contains(expected.Skip(1), o => !o.SequenceEqual(LogPrior32));
    }

    [Fact]
    public void EtaZeroTrainsExactlyAsStaticLogitAdjustment()
    {
        var (r1, t1) = Make("uniform", Options());
        var (r2, t2) = Make("la-recall:eta=0", Options());
        using (r1)
        using (r2)
        {
            var a = t1.Run();
            var b = t2.Run();
            for (int e = 0; e < 4; e++)
            {
                Assert.Equal(a.Epochs[e].TrainLoss, b.Epochs[e].TrainLoss);
                Assert.Equal(a.Epochs[e].Validation.MacroF1, b.Epochs[e].Validation.MacroF1);
            }
            var s1 = r1.GetState();
            var s2 = r2.GetState();
            for (int i = 0; i < s1.Count; i++) Assert.Equal(s1[i].Data, s2[i].Data);
            Assert.Equal(r1.GetControl(ControlRoles.LogPrior), r2.GetControl(ControlRoles.LogPrior));
        }
    }

    [Fact]
    public void ResumedRunEndsBitIdentical()
    {
        var dir = Directory.CreateTempSubdirectory("acwa-la-recall-resume").FullName;
        const string spec = "la-recall:eta=2,ema=0.3";
        var (ra, ta) = Make(spec, Options(5, Path.Combine(dir, "a.acwa")));
        TrainingResult straight;
        List<HostTensor> state;
        long step;
        using (ra) { straight = ta.Run(); state = ra.GetState(); step = ra.Step; }

        var ckpt = Path.Combine(dir, "b.acwa");
        var (rb, tb) = Make(spec, Options(5, ckpt));
        using (rb)
        {
            using var cts = new CancellationTokenSource();
            tb.EpochCompleted += (_, e) => { if (e.Epoch == 1) cts.Cancel(); };
            Assert.ThrowsAny<OperationCanceledException>(() => tb.Run(cts.Token));
        }

        var (rc, tc) = Make(spec, Options(5, ckpt));
        using (rc)
        {
            tc.Resume(ckpt);
            var offsets = Float(((ILogitOffsetPolicy)tc.Policy).LogitOffsets);
            Assert.False(offsets.SequenceEqual(LogPrior32), "the restored policy's offsets have moved");
            float[]? third = null;
            tc.StepCompleted += (_, s) => third ??= rc.GetControl(ControlRoles.LogPrior);
            var resumed = tc.Run();
            Assert.Equal(offsets, third);
            for (int e = 0; e < 3; e++) Assert.Equal(straight.Epochs[e + 2].TrainLoss, resumed.Epochs[e].TrainLoss);
            var now = rc.GetState();
            for (int i = 0; i < state.Count; i++) Assert.Equal(state[i].Data, now[i].Data);
            Assert.Equal(step, rc.Step);
        }
    }

    [Fact]
    public void AnotherLossIsRefusedWithTheMessage()
    {
        // The trainer: a graph without the log_prior control (a class-weighted cross-entropy).
        var dir = TestArtifacts.Create(16, 3);
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var e = Assert.Throws<ArgumentException>(() => new Trainer(runner, Train, Val, PolicyFactory.Create("la-recall", Counts, 2), Options(2)));
        Assert.Contains("policy 'la-recall:eta=1,ema=0.5,bound=2' moves the logit-adjustment offsets", e.Message, StringComparison.Ordinal);
        Assert.Contains("(loss 'ce') has none: train it with the logit-adjusted loss (--loss la)", e.Message, StringComparison.Ordinal);

        // A training run's options, before anything is read or compiled.
        var o = Assert.Throws<InvalidOptionException>(() => new TrainingRunOptions { Loss = LossKind.Focal, Policy = "la-recall:eta=2" }.Validate());
        Assert.Equal(nameof(TrainingRunOptions.Policy), o.Option);
        Assert.Contains("it needs Loss la, not 'focal'", o.Reason, StringComparison.Ordinal);
        new TrainingRunOptions { Loss = LossKind.LogitAdjusted, Policy = "la-recall:eta=2" }.Validate();
    }
}
