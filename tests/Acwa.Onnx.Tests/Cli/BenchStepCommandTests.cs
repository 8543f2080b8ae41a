using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Tests.Cli;

/// <summary><c>acwa bench step</c>, read through its <c>--json</c> file. The diagnostics are tested in DevBench/DevStepCommandTests.</summary>
public sealed class BenchStepCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("acwa-bench-step-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Invoke(params string[] args) => CliRun.Invoke(args);

    /// <summary>
    /// Checks one model's row: every graph timed in <paramref name="repeats"/> windows, positive times, ratios that are the
    /// medians' ratios, a training graph larger than the inference graph.
    /// </summary>
    internal static System.Text.Json.Nodes.JsonNode CheckRow(System.Text.Json.Nodes.JsonNode? row, string model, int repeats)
    {
        Assert.NotNull(row);
        Assert.Equal(model, (string?)row["model"]);
        double step = BenchJsonAssert.Measured(row["step_ms"], repeats);
        double forward = BenchJsonAssert.Measured(row["forward_ms"], repeats);
        double eval = BenchJsonAssert.Measured(row["eval_forward_ms"], repeats);
        BenchJsonAssert.Measured(row["unoptimized_forward_ms"], repeats);
        BenchJsonAssert.Ratio(step / forward, (double)row["step_over_forward"]!);
        BenchJsonAssert.Ratio(step / eval, (double)row["step_over_eval_forward"]!);
        Assert.True((int)row["training_nodes"]! > (int)row["inference_nodes"]!, row.ToJsonString());
        Assert.True((int)row["inference_nodes"]! > 0);
        return row;
    }

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void TimesStepAgainstBothForwardReferencesAndProfilesStepAndForward()
    {
        var prof = Path.Combine(_dir, "prof");
        var json = Path.Combine(_dir, "out", "step.json"); // the folder is created
        var (code, output, err) = Invoke("bench", "step", "--model", "mlp", "--steps", "1", "--repeats", "2", "--batch", "16", "--profile", prof, "--json", json);
        Assert.True(code == 0, err);
        var doc = BenchJsonAssert.Load(json, "acwa bench step");
        Assert.Equal("cpu", (string?)doc["device"]);
        Assert.Equal(16, (int)doc["options"]!["batch"]!);
        Assert.Equal("adam (fused)", (string?)doc["settings"]!["optimizer"]);
        CheckRow(Assert.Single(doc["models"]!.AsArray()), "mlp", repeats: 2);
        Assert.Empty(doc["models"]![0]!["extras"]!.AsArray());
        // The console has the same table, one line per row.
        Assert.Contains(output.Split('\n'), l => l.StartsWith("│ mlp ", StringComparison.Ordinal));
        Assert.Contains($"results written to {json}", output);

        // Profiles: the step's breakdown names the gradient ops, the forward's only the inference graph's.
        var profiles = doc["profiles"]!.AsArray();
        Assert.Equal(["training step", "forward pass"], profiles.Select(p => (string?)p!["graph"]));
        foreach (var p in profiles)
        {
            Assert.True(File.Exists((string?)p!["file"]));
            Assert.All(p["ms_per_run"]!.AsObject(), kv => Assert.True((double)kv.Value! >= 0));
        }
        Assert.True(profiles[0]!["ms_per_run"]!.AsObject().Count > profiles[1]!["ms_per_run"]!.AsObject().Count);
        var files = Directory.GetFiles(prof, "*.json");
        var step = Acwa.Cli.Commands.BenchStepCommand.OpBreakdown((string)profiles[0]!["file"]!);
        Assert.StartsWith("mlp-step_", Path.GetFileName((string)profiles[0]!["file"]!), StringComparison.Ordinal);
        var forwardFile = files.Single(f => Path.GetFileName(f).StartsWith("mlp-forward_", StringComparison.Ordinal));
        var fwd = Acwa.Cli.Commands.BenchStepCommand.OpBreakdown(forwardFile);
        Assert.True(step.Count > fwd.Count, $"step ops {string.Join(",", step.Keys)} vs forward ops {string.Join(",", fwd.Keys)}");
        // Warm-up runs are left out by run: skipping all of them (5 warm-up + 1 timed) leaves nothing, skipping the warm-up
        // leaves the timed run's nodes, which the JSON reports.
        Assert.Empty(Acwa.Cli.Commands.BenchStepCommand.OpBreakdown(forwardFile, skipRuns: 6));
        var timed = Acwa.Cli.Commands.BenchStepCommand.OpBreakdown(forwardFile, skipRuns: 5);
        Assert.Equal(fwd.Keys.Order(), timed.Keys.Order());
        Assert.Equal(timed.Keys.Order(), profiles[1]!["ms_per_run"]!.AsObject().Select(kv => kv.Key).Order());
    }

    [Fact]
    public void BenchStepAndTrainShipNoDiagnosticsAndPrintNoTargets()
    {
        var (code, help, _) = Invoke("bench", "step", "--help");
        Assert.Equal(0, code);
        foreach (var diagnostic in new[] { "--constant-weights", "--conv-weight-grad", "--conv-input-grad", "--maxpool-grad", "--torch", "--cuda-profiler-range", "--split-batch-reductions", "--fused-recurrent", "--dense-depthwise" })
            Assert.DoesNotContain(diagnostic, help);
        Assert.Contains("--json", help);
        (code, var trainHelp, _) = Invoke("bench", "train", "--help");
        Assert.Equal(0, code);
        foreach (var diagnostic in new[] { "--check-steps", "--torch", "--python" })
            Assert.DoesNotContain(diagnostic, trainHelp);
        (code, _, var err) = Invoke("bench", "step", "--model", "mlp", "--constant-weights");
        Assert.NotEqual(0, code);
        Assert.Contains("--constant-weights", err);
        var (code2, output, err2) = Invoke("bench", "step", "--model", "cnn", "--steps", "1", "--repeats", "1", "--batch", "8");
        Assert.True(code2 == 0, err2);
        Assert.DoesNotContain("MISS", output);
        Assert.DoesNotContain("target", output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void TimesAModelFileWithItsOwnInputAndClassCountNamedByItsFileName()
    {
        var prof = Path.Combine(_dir, "prof");
        var json = Path.Combine(_dir, "step.json");
        var fixture = Models.ModelTestUtil.Fixture("tiny_mobilenet.onnx"); // [N, 3, 8, 8] -> 3 classes
        var (code, _, err) = Invoke("bench", "step", "--model", fixture, "--steps", "1", "--repeats", "1", "--batch", "8", "--profile", prof, "--json", json);
        Assert.True(code == 0, err);
        var doc = BenchJsonAssert.Load(json, "acwa bench step");
        Assert.Equal([fixture], doc["options"]!["models"]!.AsArray().Select(m => (string?)m));
        CheckRow(Assert.Single(doc["models"]!.AsArray()), "tiny_mobilenet", repeats: 1);
        Assert.Contains(Directory.GetFiles(prof, "*.json"), f => Path.GetFileName(f).StartsWith("tiny_mobilenet-step_", StringComparison.Ordinal));
        Assert.Contains(Directory.GetFiles(prof, "*.json"), f => Path.GetFileName(f).StartsWith("tiny_mobilenet-forward_", StringComparison.Ordinal));
    }

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void TimesModelFilesWithInputsOfOtherRanksInOneRun()
    {
        // [N, 2, 16]: 1-D convolutions; [N, 20] features; [N, 6] int64 token ids, drawn over the embedding table's 30 rows.
        string[] files = ["tiny_conv1d.onnx", "tiny_mlp.onnx", "tiny_text.onnx"];
        var json = Path.Combine(_dir, "step.json");
        var (code, _, err) = Invoke("bench", "step", "--model", string.Join(",", files.Select(Models.ModelTestUtil.Fixture)), "--steps", "1", "--repeats", "1", "--batch", "8", "--json", json);
        Assert.True(code == 0, err);
        var rows = BenchJsonAssert.Load(json, "acwa bench step")["models"]!.AsArray();
        Assert.Equal(files.Length, rows.Count);
        for (int i = 0; i < files.Length; i++) CheckRow(rows[i], Path.GetFileNameWithoutExtension(files[i]), repeats: 1);
    }

    [Fact]
    public void RefusesAJsonPathThatIsAFolderBeforeMeasuring()
    {
        var (code, output, err) = Invoke("bench", "step", "--model", "mlp", "--json", _dir);
        Assert.Equal(2, code);
        Assert.Contains("is a folder", err);
        Assert.Empty(output); // refused before anything was measured
    }

    [Fact]
    public void RejectsAModelFileWithAnUndeclaredInputDimNamingTheFileAndInput()
    {
        var m = OnnxModel.Load(Models.ModelTestUtil.Fixture("tiny_mlp.onnx"));
        m.Graph.Input[0].Type.TensorType.Shape.Dim[1].DimParam = "features";
        var path = Path.Combine(_dir, "free_features.onnx");
        OnnxModel.Save(m, path);
        var (code, _, err) = Invoke("bench", "step", "--model", path, "--steps", "1", "--repeats", "1");
        Assert.NotEqual(0, code);
        Assert.Contains("free_features.onnx", err);
        Assert.Contains("input 'x'", err);
        Assert.Contains("[N, ...]", err);
    }

    [Fact]
    public void RefusesCudaGraphsOnTheCpuAndAnUnknownDeviceNamingThem()
    {
        var (code, _, err) = Invoke("bench", "step", "--model", "mlp", "--steps", "1", "--repeats", "1", "--cuda-graph");
        Assert.NotEqual(0, code);
        Assert.Contains("--cuda-graph needs a CUDA device", err);
        (code, _, err) = Invoke("bench", "step", "--model", "mlp", "--device", "tpu");
        Assert.Equal(2, code);
        Assert.Contains("'tpu'", err);
    }

    [Fact]
    public void RejectsAnUnknownModelWithItsName()
    {
        var (code, _, err) = Invoke("bench", "step", "--model", "vgg", "--steps", "1", "--repeats", "1");
        Assert.NotEqual(0, code);
        Assert.Contains("vgg", err);
    }

    [Fact]
    public void RefusesTokenIdsWithNoEmbeddingTableNamingTheInput()
    {
        // int64 input [N, 4] cast to float and multiplied: no Gather tells which ids are valid.
        var b = new GraphBuilder("ids_as_numbers");
        b.Input("ids", ElementType.Int64, null, 4);
        var f = b.Op("Cast", ["ids"], Attr.Int("to", (long)ElementType.Float));
        var logits = b.Op("MatMul", [f, b.ConstFloat("w", [4, 3], Enumerable.Range(0, 12).Select(i => i * 0.1f).ToArray())]);
        b.OutputAs(logits, "logits", ElementType.Float, null, 3);
        var path = Path.Combine(_dir, "ids_as_numbers.onnx");
        OnnxModel.Save(OnnxModel.Create(b.Graph), path);
        var (code, _, err) = Invoke("bench", "step", "--model", path, "--steps", "1", "--repeats", "1");
        Assert.NotEqual(0, code);
        Assert.Contains("input 'ids' is int64", err);
        Assert.Contains("embedding table", err);
    }
}
