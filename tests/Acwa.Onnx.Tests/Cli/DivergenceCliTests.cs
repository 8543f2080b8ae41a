using System.Text.Json.Nodes;
using Acwa.Onnx.Tests.Data;

namespace Acwa.Onnx.Tests.Cli;

/// <summary><c>acwa train</c>'s divergence rule and checkpoint flags: bad values named by their flag, a diverging recipe stopped early.</summary>
public class DivergenceCliTests
{
    [Theory]
    [InlineData("--divergence-factor", "0.5")]
    [InlineData("--divergence-factor", "-1")]
    [InlineData("--checkpoint-every", "-3")]
    public void BadValuesAreNamedByTheirFlag(string flag, string value)
    {
        using var dir = new TempDir();
        var r = CliRun.Invoke("train", "--dataset", LearnableIdxDataset.Write(dir), "--epochs", "1", "--out", dir.File("run"), flag, value);
        Assert.Equal(2, r.Code);
        Assert.StartsWith($"error: {flag}:", r.Err);
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void AnExplodingLearningRateStopsInTheFirstEpochNamingTheRuleWithNoCheckpoint()
    {
        using var dir = new TempDir();
        var outDir = dir.File("run");
        var r = CliRun.Invoke("train", "--dataset", LearnableIdxDataset.Write(dir, 100, 10), "--imbalance", "none", "--lr", "1e9", "--epochs", "3",
            "--batch", "16", "--checkpoint-every", "5", "--out", outDir);
        Assert.Equal(2, r.Code);
        Assert.Contains("error: training diverged at epoch 1", r.Err);
        Assert.Contains("x the reference loss", r.Err);
        Assert.Contains("no checkpoint passed the rule", r.Err);
        Assert.False(File.Exists(Path.Combine(outDir, "checkpoint.acwa"))); // every 5 steps, yet none passed the rule
        Assert.False(Directory.Exists(outDir)); // failed in its first epoch with nothing to resume: the folder it made is gone

        // With the rule off, the same run goes on until its loss is no longer finite (or ends): never silently at 1e21.
        var off = CliRun.Invoke("train", "--dataset", LearnableIdxDataset.Write(dir, 100, 10), "--imbalance", "none", "--lr", "1e9", "--epochs", "1",
            "--batch", "16", "--divergence-factor", "0", "--out", dir.File("off"));
        if (off.Code != 0) Assert.Contains("the step's loss is", off.Err);
        else Assert.True(JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("off"), "metrics.json")))![0]!["train_loss"]!.GetValue<double>() > 100);
    }
}
