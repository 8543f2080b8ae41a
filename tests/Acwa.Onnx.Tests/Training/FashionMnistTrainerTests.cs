using Acwa.Onnx.Data;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;
using Acwa.Onnx.Weighting;
using Xunit.Abstractions;

namespace Acwa.Onnx.Tests.Training;

/// <summary>End to end on real data: compiler artifacts + runtime + data + metrics + policy in the trainer loop.</summary>
public class FashionMnistTrainerTests(ITestOutputHelper log)
{
    [FashionMnistFact]
    public void AcwaTrainsCompiledMlpOnImbalancedFashionMnistSubset()
    {
        // The first 12,000 of the full training set, or all 10,000 of the embedded subset when the package is missing.
        var full = FashionMnist.Load(train: true);
        int n = FashionMnist.DefaultOrigin == DatasetOrigin.Files ? 12000 : 10000;
        Assert.Equal(FashionMnist.DefaultOrigin == DatasetOrigin.Files ? 60000 : 10000, full.Count);
        var subset = full.Subset(Enumerable.Range(0, n).ToArray(), $"fmnist-{n / 1000}k");
        var imbalanced = ImbalanceProtocol.PaperStep.Apply(subset, 1);
        var (train, val) = StratifiedSplit.Split(imbalanced, 0.15, 2);
        var test = FashionMnist.Load(train: false);
        test = test.Subset(Enumerable.Range(0, 2000).ToArray(), "fmnist-test-2k");

        var dir = Directory.CreateTempSubdirectory("acwa-fmnist").FullName;
        var forward = Compiler.TestModels.Mlp([784, 64, 10], 7);
        TrainingArtifacts.Generate(forward, new ArtifactOptions { Optimizer = OptimizerKind.Adam, LearningRate = 2e-3f }, dir);
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var policy = PolicyFactory.Create("acwa", train.ClassCounts().Select(c => (long)c).ToArray(), 3);
        var trainer = new Trainer(runner, train, val, policy, new TrainerOptions
        {
            Epochs = 3, BatchSize = 128, Seed = 3, Normalization = Normalization.FashionMnist,
            Schedule = new CosineSchedule(2e-3, 1e-4), CheckpointPath = Path.Combine(dir, "last.acwa"),
        }, test);
        var result = trainer.Run();
        foreach (var e in result.Epochs)
        {
            var t = e.Timings;
            log.WriteLine($"epoch {e.Epoch}: loss {e.TrainLoss:F4} val macro-F1 {e.Validation.MacroF1:F4} weights [{string.Join(" ", e.NextWeights.Select(w => w.ToString("F2")))}] "
                + $"epoch {t.Total * 1000:F1} ms train {t.Train * 1000:F1} val-forward {t.ValidationForward * 1000:F2} metrics {t.Metrics * 1000:F3} policy {t.Policy * 1000:F3} "
                + $"ckpt {t.Checkpoint * 1000:F2} ms; ACWA overhead {t.AcwaOverhead * 1000:F3} ms = {t.AcwaOverheadFraction * 100:F3} % of the epoch");
        }
        log.WriteLine($"train {train.Count} (counts {string.Join(",", train.ClassCounts())}), val {val.Count}; test macro-F1 {result.Test!.MacroF1:F4}, acc {result.Test.Accuracy:F4}");
        Assert.True(result.Epochs[^1].TrainLoss < result.Epochs[0].TrainLoss);
        Assert.True(result.Test.Accuracy > 0.6, $"test accuracy {result.Test.Accuracy}");
        // Epoch 0 also pays the one-time JIT compilation of the metrics and policy code; later epochs show the steady cost.
        Assert.All(result.Epochs.Skip(1), e => Assert.True(e.Timings.AcwaOverheadFraction < 0.05, $"ACWA overhead {e.Timings.AcwaOverheadFraction:P2}"));
        var exported = Path.Combine(dir, "model.onnx");
        runner.ExportInference(exported);
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(exported);
        Assert.Single(session.InputMetadata);
    }
}
