using System.Text.Json.Nodes;
using Acwa.Onnx.Tests.Cli;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runs;

namespace Acwa.Onnx.Tests.Training.Compiler;

/// <summary>Loss specs (<c>focal:gamma=1</c>, <c>ldam:s=30,margin=0.5</c>, <c>la:tau=1.5</c>): parsing, errors, and that the values reach the compiled loss.</summary>
public class LossSpecTests
{
    [Theory]
    [InlineData("ce", LossKind.CrossEntropy, "ce")]
    [InlineData("focal", LossKind.Focal, "focal")]
    [InlineData("focal:gamma=2", LossKind.Focal, "focal")] // the default is not written
    [InlineData("Focal: gamma = 0.5", LossKind.Focal, "focal:gamma=0.5")]
    [InlineData("ldam:margin=0.3", LossKind.Ldam, "ldam:margin=0.3")]
    [InlineData("ldam:s=10,margin=0.3", LossKind.Ldam, "ldam:s=10,margin=0.3")]
    [InlineData("la:tau=0", LossKind.LogitAdjusted, "la:tau=0")]
    [InlineData("logit-adjusted:tau=1.5", LossKind.LogitAdjusted, "la:tau=1.5")]
    public void SpecsParseAndWriteBack(string spec, LossKind kind, string written)
    {
        var (loss, settings) = TrainingNames.ParseLossSpec(spec);
        Assert.Equal(kind, loss);
        Assert.Equal(written, TrainingNames.LossSpec(loss, settings));
        Assert.Equal((loss, settings), TrainingNames.ParseLossSpec(written));
    }

    [Theory]
    [InlineData("ce:gamma=1", "'ce' takes no options")]
    [InlineData("focal:tau=1", "unknown key 'tau'; 'focal' takes gamma=")]
    [InlineData("ldam:margin", "is not key=value; 'ldam' takes s=, margin=")]
    [InlineData("la:tau=x", "tau='x' is not a number")]
    [InlineData("focal:gamma=-1", "gamma must be 0 or more, got -1")]
    [InlineData("ldam:s=0", "s must be positive, got 0")]
    [InlineData("hinge", "unknown loss 'hinge'")]
    public void BadSpecsAreRefusedNamingTheKey(string spec, string message)
    {
        var e = Assert.Throws<FormatException>(() => TrainingNames.ParseLossSpec(spec));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void SettingsReachTheCompilerOptions()
    {
        long[] counts = [1000, 100, 10];
        string[] names = ["a", "b", "c"];
        var o = new TrainingRunOptions { Loss = LossKind.Ldam, LossSettings = new LossSettings { LdamScale = 10, LdamMaxMargin = 0.25 } };
        var a = TrainingRun.ArtifactOptionsFor(o, counts, names);
        Assert.Equal(10f, a.LdamScale);
        Assert.Equal(0.25f, a.LdamMargins!.Max(), 6); // the rarest class's margin
        var f = TrainingRun.ArtifactOptionsFor(o with { Loss = LossKind.Focal, LossSettings = new LossSettings { FocalGamma = 0.5 } }, counts, names);
        Assert.Equal(0.5f, f.FocalGamma);
        var la = TrainingRun.ArtifactOptionsFor(o with { Loss = LossKind.LogitAdjusted, LossSettings = new LossSettings { LogitAdjustTau = 1.5 } }, counts, names);
        Assert.Equal(1.5f, la.LogitAdjustTau);
        Assert.Equal("ldam:s=10,margin=0.25", o.ToJson()["loss"]!.GetValue<string>());
        Assert.Contains("-ldam_s_10_margin_0.25-", o.DefaultOutDir());
    }

    /// <summary>
    /// The values change what trains: focal with gamma 0 and the logit-adjusted loss with tau 0 are cross-entropy (same first
    /// epoch loss to rounding, uniform weights), while the defaults (gamma 2, tau 1) give other losses.
    /// </summary>
    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void FocalGammaZeroAndLogitAdjustmentTauZeroTrainAsCrossEntropy()
    {
        using var dir = new TempDir();
        var data = LearnableIdxDataset.Write(dir);
        double FirstEpochLoss(string loss)
        {
            var outDir = dir.File("run-" + loss.Replace(':', '_').Replace('=', '_'));
            var r = CliRun.Invoke("train", "--dataset", data, "--imbalance", "step", "--loss", loss, "--policy", "uniform", "--epochs", "1", "--batch", "32", "--threads", "1", "--out", outDir, "--quiet");
            Assert.True(r.Code == 0, r.Err);
            Assert.Equal(TrainingNames.LossSpec(TrainingNames.ParseLossSpec(loss).Loss, TrainingNames.ParseLossSpec(loss).Settings),
                JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")))!["loss"]!.GetValue<string>());
            return JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json")))![0]!["train_loss"]!.GetValue<double>();
        }
        double ce = FirstEpochLoss("ce");
        Assert.Equal(ce, FirstEpochLoss("focal:gamma=0"), ce * 1e-4);
        Assert.Equal(ce, FirstEpochLoss("la:tau=0"), ce * 1e-4);
        Assert.True(FirstEpochLoss("focal") < 0.8 * ce, "focal with gamma 2 down-weights easy samples: a lower loss");
        Assert.NotEqual(ce, FirstEpochLoss("la"), ce * 1e-2);
    }
}
