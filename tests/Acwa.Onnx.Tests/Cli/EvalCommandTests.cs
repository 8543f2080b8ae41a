using System.Text.Json.Nodes;
using Acwa.Cli.Commands;
using Acwa.Onnx.Data;
using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.IO;
using Acwa.Onnx.Metrics;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Tests.Evaluation;

namespace Acwa.Onnx.Tests.Cli;

public sealed class EvalCommandTests : IDisposable
{
    private readonly string _dir = EvalModels.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Cli(params string[] args) => Acwa.Onnx.Tests.Cli.CliRun.Invoke(args);

    private static void AssertReportMatches(ConfusionMatrix expected, string jsonPath)
    {
        var json = JsonNode.Parse(File.ReadAllText(jsonPath))!.ToJsonString();
        Assert.Equal(JsonNode.Parse(ClassificationReport.Create(expected).ToJson())!.ToJsonString(), json);
    }

    [Fact]
    public void EvalOnNpyEqualsDirectSessionRun()
    {
        var model = EvalModels.Linear(1, 6, 6, 4);
        OnnxModel.Save(model, Path.Combine(_dir, "m.onnx"));
        var data = EvalModels.Data(53, 1, 6, 6, 4);
        NpyFile.Write<byte>(Path.Combine(_dir, "x.npy"), data.Pixels, [53, 6, 6]);
        NpyFile.Write<long>(Path.Combine(_dir, "y.npy"), data.Labels.ToArray().Select(v => (long)v).ToArray());
        var (code, stdout, err) = Cli("eval", "--model", Path.Combine(_dir, "m.onnx"), "--dataset", $"npy:{_dir}/x.npy,{_dir}/y.npy",
            "--batch", "16", "--mean", "0.5", "--std", "0.25", "--json", Path.Combine(_dir, "r.json"));
        Assert.True(code == 0, err);
        var expected = EvalModels.Direct(model, data, new Normalization([0.5f], [0.25f]), 4);
        AssertReportMatches(expected, Path.Combine(_dir, "r.json"));
        Assert.Contains("macro", stdout);
        Assert.Contains("--mean/--std", stdout);
        Assert.Contains("53 images", stdout);
    }

    [Fact]
    public void AllowCpuFallbackIsAcceptedAndChangesNothingOnTheCpu()
    {
        // The option matters on CUDA only (CudaRunnerTests covers it there); on the CPU the report is the same.
        var model = EvalModels.Linear(1, 6, 6, 4, seed: 3);
        OnnxModel.Save(model, Path.Combine(_dir, "m.onnx"));
        var data = EvalModels.Data(20, 1, 6, 6, 4, seed: 5);
        NpyFile.Write<byte>(Path.Combine(_dir, "x.npy"), data.Pixels, [20, 6, 6]);
        NpyFile.Write<long>(Path.Combine(_dir, "y.npy"), data.Labels.ToArray().Select(v => (long)v).ToArray());
        string[] Args(string json, params string[] extra) =>
            ["eval", "--model", Path.Combine(_dir, "m.onnx"), "--dataset", $"npy:{_dir}/x.npy,{_dir}/y.npy", "--json", Path.Combine(_dir, json), .. extra];
        var (code, _, err) = Cli(Args("plain.json"));
        Assert.True(code == 0, err);
        (code, _, err) = Cli(Args("fallback.json", "--allow-cpu-fallback"));
        Assert.True(code == 0, err);
        var expected = EvalModels.Direct(model, data, new Normalization([0f], [1f]), 4);
        AssertReportMatches(expected, Path.Combine(_dir, "plain.json"));
        AssertReportMatches(expected, Path.Combine(_dir, "fallback.json"));
    }

    [Fact]
    public void EvalOnIdxTestSplitEqualsDirectSessionRunWithMetadataNormalization()
    {
        var model = EvalModels.Linear(1, 5, 5, 3, seed: 9);
        var norm = new Normalization([0.2f], [0.7f]);
        new ClassifierMetadata(norm, ["a", "b", "c"]).WriteTo(model);
        OnnxModel.Save(model, Path.Combine(_dir, "m.onnx"));
        var train = EvalModels.Data(12, 1, 5, 5, 3, seed: 4);
        var test = EvalModels.Data(41, 1, 5, 5, 3, seed: 5);
        File.WriteAllBytes(Path.Combine(_dir, "tri"), DataFiles.IdxImages(train.Pixels.ToArray(), 12, 5, 5));
        File.WriteAllBytes(Path.Combine(_dir, "trl"), DataFiles.IdxLabels(train.Labels.ToArray().Select(v => (byte)v).ToArray()));
        File.WriteAllBytes(Path.Combine(_dir, "tei"), DataFiles.IdxImages(test.Pixels.ToArray(), 41, 5, 5));
        File.WriteAllBytes(Path.Combine(_dir, "tel"), DataFiles.IdxLabels(test.Labels.ToArray().Select(v => (byte)v).ToArray()));
        foreach (var host in new[] { false, true })
        {
            var args = new List<string> { "eval", "--model", Path.Combine(_dir, "m.onnx"), "--dataset", $"idx:{_dir}/tri,{_dir}/trl,{_dir}/tei,{_dir}/tel",
                "--batch", "8", "--json", Path.Combine(_dir, "r.json") };
            if (host) args.Add("--host-argmax");
            var (code, stdout, err) = Cli([.. args]);
            Assert.True(code == 0, err);
            var expected = EvalModels.Direct(model, test, norm, 3);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "r.json")))!;
            Assert.Equal(JsonNode.Parse(ClassificationReport.Create(expected, ["a", "b", "c"]).ToJson())!.ToJsonString(), json.ToJsonString());
            Assert.Contains("model metadata acwa.normalization", stdout);
            Assert.Contains(host ? "argmax on host" : "argmax in graph", stdout);
        }
    }

    [Fact]
    public void EvalErrorsAreOneLineMessages()
    {
        var b = new GraphBuilder("bad");
        var x = b.Input("x", ElementType.Float, null, 1, 2, 2);
        b.OutputAs(x, "y", ElementType.Float, null, 1, 2, 2);
        OnnxModel.Save(OnnxModel.Create(b.Graph), Path.Combine(_dir, "bad.onnx"));
        var (code, _, err) = Cli("eval", "--model", Path.Combine(_dir, "bad.onnx"), "--dataset", "npy:a.npy,b.npy");
        Assert.Equal(2, code);
        Assert.Contains("output 'y' has shape [N, 1, 2, 2]", err);
        (code, _, err) = Cli("eval", "--model", Path.Combine(_dir, "missing.onnx"), "--dataset", "fashion-mnist");
        Assert.Equal(2, code);
        Assert.Contains("missing.onnx", err);
    }

    [Fact]
    public void HelpListsEvalAndBenchEval()
    {
        var (code, stdout, _) = Cli("eval", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--dataset", stdout);
        Assert.Contains("npy:X.npy,Y.npy", stdout);
        (code, stdout, _) = Cli("bench", "eval", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--model", stdout);
        // --model as in every other command; the former --models still parses, to the same option.
        var cmd = Acwa.Cli.CliApp.Build().Subcommands.Single(c => c.Name == "bench").Subcommands.Single(c => c.Name == "eval");
        var model = cmd.Options.Single(o => o.Name == "--model");
        Assert.Contains("--models", model.Aliases);
        Assert.Equal("mlp,cnn", Acwa.Cli.CliApp.Build().Parse(["bench", "eval", "--models", "mlp,cnn"]).GetValue<string>("--model"));
    }

    [Fact]
    public void BenchEvalRunsAllThreeModesOnASmallSliceAndWritesThemAsJson()
    {
        var o = new StringWriter();
        var json = Path.Combine(_dir, "bench", "eval.json");
        var rows = BenchEvalCommand.Run(new BenchEvalOptions { Models = ["mlp"], Batch = 64, Repeats = 2, CnnImages = 200, Threads = 1, JsonPath = json }, o);
        var r = Assert.Single(rows);
        Assert.Equal(200, r.Images);
        Assert.All(new[] { r.ForwardImagesPerS, r.EvaluatorImagesPerS, r.NaiveImagesPerS }, m => Assert.Equal(2, m.Values.Count));
        Assert.Contains("(b)/(a)", o.ToString());
        Assert.DoesNotContain("MISS", o.ToString());
        Assert.DoesNotContain("target", o.ToString(), StringComparison.OrdinalIgnoreCase);

        var doc = Acwa.Onnx.Tests.Cli.BenchJsonAssert.Load(json, "acwa bench eval");
        Assert.Equal("cpu", (string?)doc["device"]);
        Assert.Equal(64, (int)doc["options"]!["batch"]!);
        var row = Assert.Single(doc["models"]!.AsArray())!;
        Assert.Equal("mlp", (string?)row["model"]);
        Assert.Equal(200, (int)row["images"]!);
        var per = new Dictionary<string, double[]>();
        foreach (var mode in new[] { "forward_images_per_s", "evaluator_images_per_s", "naive_images_per_s" })
        {
            Acwa.Onnx.Tests.Cli.BenchJsonAssert.Measured(row[mode], 2);
            per[mode] = row[mode]!["values"]!.AsArray().Select(v => (double)v!).ToArray();
        }
        // The ratios are the medians of the ratios within each repeat.
        static double Median2(double[] v) => (v[0] + v[1]) / 2;
        Acwa.Onnx.Tests.Cli.BenchJsonAssert.Ratio(Median2(per["evaluator_images_per_s"].Zip(per["forward_images_per_s"], (e, f) => e / f).ToArray()), (double)row["evaluator_over_forward"]!);
        Acwa.Onnx.Tests.Cli.BenchJsonAssert.Ratio(Median2(per["evaluator_images_per_s"].Zip(per["naive_images_per_s"], (e, c) => e / c).ToArray()), (double)row["evaluator_over_naive"]!);
    }
}
