using System.Text.Json.Nodes;
using Acwa.Onnx.Tests.Models;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>
/// <c>acwa bench train</c> on built-in models and forward models given as files (input and classes read from the model),
/// read through its <c>--json</c> file. The loss-trajectory checks are tested in DevBench/DevTrainCommandTests.
/// </summary>
public sealed class BenchTrainCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("acwa-bench-train-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>One throughput row: the model, the unit, <paramref name="windows"/> positive rates.</summary>
    internal static void CheckThroughput(JsonNode? row, string model, string unit, int windows, bool cudaGraph = false)
    {
        Assert.NotNull(row);
        Assert.Equal(model, (string?)row["model"]);
        Assert.Equal(unit, (string?)row["unit"]);
        Assert.Equal(cudaGraph, (bool)row["cuda_graph"]!);
        BenchJsonAssert.Measured(row["per_second"], windows);
    }

    [Fact]
    public void ExportedModelFilesAreTimedInImagesPerSecond()
    {
        var vit = ModelTestUtil.Fixture("tiny_vit.onnx");
        var json = Path.Combine(_dir, "train.json");
        var (code, output, err) = CliRun.Invoke("bench", "train", "--model", vit, "--batch", "16", "--warmup", "1", "--steps", "2", "--windows", "2", "--no-epoch", "--json", json);
        Assert.True(code == 0, err + output);
        var doc = BenchJsonAssert.Load(json, "acwa bench train");
        Assert.Equal("cpu", (string?)doc["device"]);
        CheckThroughput(Assert.Single(doc["throughput"]!.AsArray()), vit, "images/s", windows: 2);
        Assert.Empty(doc["epochs"]!.AsArray());
        Assert.Empty(doc["failures"]!.AsArray());
        Assert.DoesNotContain("one-ulp", output); // the trajectory check is a diagnostic of acwa-dev train
    }

    [Theory]
    [InlineData("tiny_mlp.onnx")]  // features [N, 20]
    [InlineData("tiny_lstm.onnx")] // sequences [N, T, F] through an unrolled LSTM
    [InlineData("tiny_text.onnx")] // int64 token ids [N, T] read by an embedding
    public void FeatureSequenceAndTokenIdModelsAreTimedInSamplesPerSecond(string file)
    {
        var json = Path.Combine(_dir, "train.json");
        var (code, output, err) = CliRun.Invoke("bench", "train", "--model", ModelTestUtil.Fixture(file), "--batch", "8", "--warmup", "1", "--steps", "2", "--windows", "3", "--no-epoch", "--json", json);
        Assert.True(code == 0, err + output);
        var doc = BenchJsonAssert.Load(json, "acwa bench train");
        CheckThroughput(Assert.Single(doc["throughput"]!.AsArray()), ModelTestUtil.Fixture(file), "samples/s", windows: 3);
        Assert.Equal(8, (int)doc["options"]!["batch"]!);
    }

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void AnEpochThroughTheTrainerReportsAcwasEndOfEpochAsAShareOfIt()
    {
        var json = Path.Combine(_dir, "train.json");
        var (code, output, err) = CliRun.Invoke("bench", "train", "--model", "mlp", "--warmup", "1", "--steps", "2", "--windows", "1", "--json", json);
        Assert.True(code == 0, err + output);
        var doc = BenchJsonAssert.Load(json, "acwa bench train");
        CheckThroughput(Assert.Single(doc["throughput"]!.AsArray()), "mlp", "images/s", windows: 1);
        var epoch = Assert.Single(doc["epochs"]!.AsArray())!;
        Assert.Equal("mlp", (string?)epoch["model"]);
        // Step-imbalanced Fashion-MNIST (or synthetic data of its size): 33,000 images, 10% held out for validation.
        Assert.Equal(29_700, (int)epoch["train_samples"]!);
        double total = (double)epoch["epoch_s"]!, train = (double)epoch["train_s"]!, val = (double)epoch["validation_forward_s"]!, acwa = (double)epoch["acwa_overhead_ms"]! / 1000;
        Assert.True(train > 0 && val > 0 && acwa > 0, epoch.ToJsonString());
        Assert.True(train + val + acwa <= total * (1 + 1e-9), epoch.ToJsonString());
        BenchJsonAssert.Ratio(acwa / total, (double)epoch["acwa_share"]!);
    }

    [Fact]
    public void AnInputWithAnUndeclaredDimIsRefusedByNameAndReportedAsAFailure()
    {
        var m = Acwa.Onnx.Graphs.OnnxModel.Load(ModelTestUtil.Fixture("tiny_mlp.onnx"));
        m.Graph.Input[0].Type.TensorType.Shape.Dim[1].DimParam = "features";
        var path = Path.Combine(_dir, "free_features.onnx");
        Acwa.Onnx.Graphs.OnnxModel.Save(m, path);
        var json = Path.Combine(_dir, "train.json");
        var (code, output, _) = CliRun.Invoke("bench", "train", "--model", path, "--windows", "1", "--steps", "1", "--warmup", "1", "--no-epoch", "--json", json);
        Assert.Equal(1, code);
        Assert.Contains("free_features.onnx", output);
        Assert.Contains("input 'x' must be declared as [N, ...] with every dim after the batch fixed", output);
        var failure = Assert.Single(BenchJsonAssert.Load(json, "acwa bench train")["failures"]!.AsArray())!;
        Assert.Equal(path, (string?)failure["model"]);
        Assert.Contains("input 'x' must be declared as [N, ...]", (string?)failure["error"]);
    }
}
