using System.Globalization;
using System.Text.RegularExpressions;
using Acwa.Samples.AdaptiveWeightsInOwnLoop;
using Acwa.Samples.EvaluateExistingSession;
using Acwa.Samples.TokenClassifierWithAcwa;
using Acwa.Samples.TrainingRunFromCSharp;
using Acwa.Onnx.Tests.Cli;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Training.Runs;

namespace Acwa.Onnx.Tests.Evaluation;

public class SampleTests
{
    [Fact]
    public void EvaluateExistingSessionPrintsAReportBetterThanChance()
    {
        var o = new StringWriter();
        Assert.Equal(0, EvaluateExistingSessionSample.Run(o, maxImages: 1000));
        var text = o.ToString();
        var m = Regex.Match(text, @"accuracy (\d\.\d+), macro F1 (\d\.\d+)");
        Assert.True(m.Success, text);
        // nearest class mean: ~0.68 on Fashion-MNIST, ~1.0 on the synthetic fallback; chance is 0.1 / 0.33
        Assert.True(double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) > 0.5, text);
    }

    [Fact]
    public void AdaptiveWeightsInOwnLoopMovesWeightsAndLearns()
    {
        var o = new StringWriter();
        Assert.Equal(0, AdaptiveWeightsInOwnLoopSample.Run(o, epochs: 6));
        var lines = o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var epochs = lines.Where(l => l.StartsWith("epoch", StringComparison.Ordinal)).ToArray();
        Assert.Equal(6, epochs.Length);
        var f1 = epochs.Select(l => double.Parse(Regex.Match(l, @"macro F1 (\d\.\d+)").Groups[1].Value, CultureInfo.InvariantCulture)).ToArray();
        Assert.True(f1[^1] > 0.5, o.ToString());
        var weights = epochs.Select(l => Regex.Match(l, @"weights \[(.*)\]").Groups[1].Value).Distinct().ToArray();
        Assert.True(weights.Length > 1, "the policy never changed the weights:\n" + o);
    }

    [Fact]
    public void TokenClassifierSampleTrainsOnIdsAndAcwaLiftsTheRareClasses()
    {
        var o = new StringWriter();
        Assert.Equal(0, TokenClassifierWithAcwaSample.Run(o, epochs: 6));
        var text = o.ToString();
        Assert.Contains("input Int64 [N, 12], 4 classes", text);
        var epochs = text.Split('\n').Where(l => l.StartsWith("epoch", StringComparison.Ordinal)).ToArray();
        Assert.Equal(6, epochs.Length);
        double[] F1s(string line) => Regex.Match(line, @"F1 \[([^\]]*)\]").Groups[1].Value.Split(", ").Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        double[] Weights(string line) => Regex.Match(line, @"weights \[([^\]]*)\]").Groups[1].Value.Split(", ").Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        // the rarest class (20 training sequences): F1 0 after the first epoch, learned once its weight has grown
        Assert.Equal(0, F1s(epochs[0])[3]);
        Assert.True(F1s(epochs[^1])[3] > 0.3, epochs[^1]);
        Assert.True(Weights(epochs[^1])[3] > 2 * Weights(epochs[^1])[0], epochs[^1]);
    }

    /// <summary>The library training run (the sample's dozen lines) on a small learnable IDX set: it learns and writes the run folder.</summary>
    [Fact]
    public void TrainingRunSampleTrainsAndWritesTheRunFolder()
    {
        using var dir = new TempDir();
        var o = new StringWriter();
        var result = TrainingRunFromCSharpSample.Run(new TrainingRunOptions
        {
            Dataset = LearnableIdxDataset.Write(dir), Model = "mlp", Policy = "acwa-prior", Epochs = 3, Batch = 64, Threads = 1, OutDir = dir.File("run"),
        }, o);
        Assert.True(result.Test!.MacroF1 > 0.8, o.ToString());
        Assert.Equal(3, result.History.Count);
        Assert.Equal(3, o.ToString().Split('\n').Count(l => l.StartsWith("epoch ", StringComparison.Ordinal)));
        foreach (var f in new[] { "config.json", "metrics.csv", "metrics.json", "weights.csv", "checkpoint.acwa", "model.onnx", "test_report.json", "confusion_matrix.csv" })
            Assert.True(File.Exists(Path.Combine(result.OutDir, f)), $"run folder lacks {f}");
    }
}
