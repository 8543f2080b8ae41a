using System.Globalization;
using Acwa.Onnx.Tests.Cli;
using Acwa.Onnx.Tests.Models;

namespace Acwa.Onnx.Tests.DevBench;

/// <summary><c>acwa-dev train</c>: the shipped bench train plus the loss-trajectory check and the PyTorch reference, read through its <c>--json</c> file.</summary>
public sealed class DevTrainCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("acwa-dev-train-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("tiny_vit.onnx", "images/s")] // an exported image model
    [InlineData("tiny_mlp.onnx", "samples/s")]  // features [N, 20]
    [InlineData("tiny_lstm.onnx", "samples/s")] // sequences [N, T, F] through an unrolled LSTM
    [InlineData("tiny_text.onnx", "samples/s")] // int64 token ids [N, T] read by an embedding
    public void ModelFilesAreCheckedAgainstTheCpusOneUlpSensitivityAndTimed(string file, string unit)
    {
        var model = ModelTestUtil.Fixture(file);
        var json = Path.Combine(_dir, "train.json");
        var (code, output, err) = DevBenchRun.Invoke("train", "--model", model, "--batch", "8", "--warmup", "1", "--steps", "2", "--windows", "2", "--check-steps", "3", "--no-epoch", "--json", json);
        Assert.True(code == 0, err + output);
        var doc = BenchJsonAssert.Load(json, "acwa-dev train");
        BenchTrainCommandTests.CheckThroughput(Assert.Single(doc["throughput"]!.AsArray()), model, unit, windows: 2);
        var check = Assert.Single(doc["checks"]!.AsArray())!;
        Assert.Equal(model, (string?)check["model"]);
        Assert.Equal("cpu-one-ulp", (string?)check["kind"]);
        Assert.Equal(3, (int)check["steps"]!);
        var losses = check["cpu_losses"]!.AsArray().Select(v => (double)v!).ToArray();
        var perturbed = check["losses"]!.AsArray().Select(v => (double)v!).ToArray();
        Assert.Equal(3, losses.Length);
        Assert.All(losses, v => Assert.InRange(v, 0.01, 10)); // cross-entropy of a few classes from a random start: finite, positive
        // The first step is a forward pass from parameters one ulp apart; the relative differences are the losses'.
        var relative = check["relative_per_step"]!.AsArray().Select(v => (double)v!).ToArray();
        for (int i = 0; i < 3; i++) Assert.Equal(Math.Abs((float)losses[i] - (float)perturbed[i]) / (double)Math.Abs((float)losses[i]), relative[i], 12);
        Assert.InRange(relative[0], 0, 1e-5);
        Assert.Equal(relative.Max(), (double)check["max_relative"]!);
        Assert.Equal((double)check["max_relative"]!, (double)check["cpu_sensitivity"]!);
        Assert.True((bool)check["ok"]!);
        // The console line, one line whatever the length of the model's path.
        Assert.Contains(output.Split('\n'), l => l.StartsWith(model + ": CPU one-ulp sensitivity over 3 Adam steps: losses [", StringComparison.Ordinal)
            && l.Contains(string.Join(" ", losses.Select(v => v.ToString("F5", CultureInfo.InvariantCulture))), StringComparison.Ordinal));
    }

    [Fact]
    public void NoCheckWithZeroCheckStepsAndRefusesANegativeCount()
    {
        var json = Path.Combine(_dir, "train.json");
        var (code, output, err) = DevBenchRun.Invoke("train", "--model", ModelTestUtil.Fixture("tiny_mlp.onnx"), "--batch", "8", "--warmup", "1", "--steps", "1", "--windows", "1", "--check-steps", "0", "--no-epoch", "--json", json);
        Assert.True(code == 0, err + output);
        Assert.Empty(BenchJsonAssert.Load(json, "acwa-dev train")["checks"]!.AsArray());
        (code, _, err) = DevBenchRun.Invoke("train", "--model", "mlp", "--check-steps", "-1");
        Assert.Equal(2, code);
        Assert.Contains("--check-steps", err);
    }

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void ComparesTheEpochWithThePyTorchReferenceItRuns()
    {
        // Stands in for tools/torch_reference.py cpu-epoch: one JSON line per model.
        var script = Path.Combine(_dir, "reference.sh");
        File.WriteAllText(script, """
            echo "args: $*"
            echo '{"framework": "stand-in", "mode": "cpu-epoch", "model": "mlp", "images": 29700, "epoch_s_median": 8.0}'
            """);
        var json = Path.Combine(_dir, "train.json");
        var (code, output, err) = DevBenchRun.Invoke("train", "--model", "mlp", "--warmup", "1", "--steps", "1", "--windows", "1", "--check-steps", "0", "--torch", script, "--python", "/bin/sh", "--json", json);
        Assert.True(code == 0, err + output);
        Assert.Contains("cpu-epoch --models mlp --repeats 1", output);
        var doc = BenchJsonAssert.Load(json, "acwa-dev train");
        double ours = (double)Assert.Single(doc["epochs"]!.AsArray())!["train_s"]!;
        var row = Assert.Single(doc["torch"]!["epochs"]!.AsArray())!;
        Assert.Equal("mlp", (string?)row["model"]);
        Assert.Equal(ours, (double)row["acwa_train_s"]!);
        Assert.Equal(8.0, (double)row["torch_epoch_s"]!);
        BenchJsonAssert.Ratio(8.0 / ours, (double)row["torch_over_acwa"]!);
        Assert.Equal("stand-in", (string?)Assert.Single(doc["torch"]!["reference"]!.AsArray())!["framework"]);
        Assert.Contains(output.Split('\n'), l => l.StartsWith("│ mlp ", StringComparison.Ordinal) && l.Contains("8.00", StringComparison.Ordinal));
    }
}
