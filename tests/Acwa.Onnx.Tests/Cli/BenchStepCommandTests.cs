using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Tests.Cli;

public sealed class BenchStepCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("acwa-bench-step-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Invoke(params string[] args) => CliRun.Invoke(args);

    [Fact]
    public void TimesStepAgainstBothForwardReferencesAndProfilesStepAndForward()
    {
        var prof = Path.Combine(_dir, "prof");
        var (code, output, err) = Invoke("bench", "step", "--model", "mlp", "--steps", "1", "--repeats", "2", "--batch", "16", "--profile", prof);
        Assert.True(code == 0, err);
        Assert.Contains("step / forward", output);
        Assert.Contains("step / eval forward", output);
        Assert.Matches(@"graph nodes: training step \d+, inference \d+", output);
        Assert.Contains("per-op-type time of the training step", output);
        Assert.Contains("per-op-type time of the forward pass", output);
        // The step's breakdown names the gradient ops, the forward's only the inference graph's.
        var files = Directory.GetFiles(prof, "*.json");
        Assert.Contains(files, f => Path.GetFileName(f).StartsWith("mlp-step_", StringComparison.Ordinal));
        Assert.Contains(files, f => Path.GetFileName(f).StartsWith("mlp-forward_", StringComparison.Ordinal));
        var step = Acwa.Cli.Commands.BenchStepCommand.OpBreakdown(files.Where(f => Path.GetFileName(f).StartsWith("mlp-step_", StringComparison.Ordinal)).OrderByDescending(f => new FileInfo(f).Length).First());
        var fwd = Acwa.Cli.Commands.BenchStepCommand.OpBreakdown(files.Single(f => Path.GetFileName(f).StartsWith("mlp-forward_", StringComparison.Ordinal)));
        Assert.True(step.Count > fwd.Count, $"step ops {string.Join(",", step.Keys)} vs forward ops {string.Join(",", fwd.Keys)}");
        // Warm-up runs are left out by run: skipping all of them (5 warm-up + 1 timed) leaves nothing, skipping the warm-up
        // leaves the timed run's nodes.
        var forwardFile = files.Single(f => Path.GetFileName(f).StartsWith("mlp-forward_", StringComparison.Ordinal));
        Assert.Empty(Acwa.Cli.Commands.BenchStepCommand.OpBreakdown(forwardFile, skipRuns: 6));
        Assert.Equal(fwd.Keys.Order(), Acwa.Cli.Commands.BenchStepCommand.OpBreakdown(forwardFile, skipRuns: 5).Keys.Order());
    }

    [Fact]
    public void TimesAModelFileWithItsOwnInputAndClassCountNamedByItsFileName()
    {
        var prof = Path.Combine(_dir, "prof");
        var fixture = Models.ModelTestUtil.Fixture("tiny_mobilenet.onnx"); // [N, 3, 8, 8] -> 3 classes
        var (code, output, err) = Invoke("bench", "step", "--model", fixture, "--steps", "1", "--repeats", "1", "--batch", "8", "--profile", prof);
        Assert.True(code == 0, err);
        Assert.Matches(@"tiny_mobilenet: step [\d.]+ ms, forward [\d.]+ ms", output);
        Assert.Contains(Directory.GetFiles(prof, "*.json"), f => Path.GetFileName(f).StartsWith("tiny_mobilenet-step_", StringComparison.Ordinal));
        Assert.Contains(Directory.GetFiles(prof, "*.json"), f => Path.GetFileName(f).StartsWith("tiny_mobilenet-forward_", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("tiny_conv1d.onnx", "tiny_conv1d")] // [N, 2, 16]: 1-D convolutions
    [InlineData("tiny_mlp.onnx", "tiny_mlp")]       // [N, 20]
    [InlineData("tiny_text.onnx", "tiny_text")]     // [N, 6] int64 token ids: drawn over the embedding table's 30 rows
    public void TimesModelFilesWithInputsOfOtherRanks(string file, string tag)
    {
        var (code, output, err) = Invoke("bench", "step", "--model", Models.ModelTestUtil.Fixture(file), "--steps", "1", "--repeats", "1", "--batch", "8");
        Assert.True(code == 0, err);
        Assert.Matches(tag + @": step [\d.]+ ms, forward [\d.]+ ms", output);
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
    public void RejectsAnUnknownConvWeightGradMethodListingTheValidOnes()
    {
        var (code, _, err) = Invoke("bench", "step", "--model", "mlp", "--steps", "1", "--repeats", "1", "--conv-weight-grad", "fastest");
        Assert.NotEqual(0, code);
        Assert.Contains("'fastest'", err);
        Assert.Contains("Im2ColConvMatMul", err);
    }

    [Fact]
    public void RejectsANumberAsConvInputGradMethodListingTheValidOnes()
    {
        var (code, _, err) = Invoke("bench", "step", "--model", "mlp", "--steps", "1", "--repeats", "1", "--conv-input-grad", "2");
        Assert.NotEqual(0, code);
        Assert.Contains("--conv-input-grad '2'", err);
        Assert.Contains("FlippedConvStride1ElseTranspose", err);
    }

    [Fact]
    public void RefusesCudaGraphsOnTheCpuNamingTheOption()
    {
        var (code, _, err) = Invoke("bench", "step", "--model", "mlp", "--steps", "1", "--repeats", "1", "--cuda-graph");
        Assert.NotEqual(0, code);
        Assert.Contains("--cuda-graph needs a CUDA device", err);
    }

    [Fact]
    public void RejectsAnUnknownModelWithItsName()
    {
        var (code, _, err) = Invoke("bench", "step", "--model", "vgg", "--steps", "1", "--repeats", "1");
        Assert.NotEqual(0, code);
        Assert.Contains("vgg", err);
    }

    [Fact]
    public void ComparesWithThePyTorchReferenceItRunsPrintingItsRatioBesideOurs()
    {
        // Stands in for tools/torch_reference.py (tests must not need Python): the same command line, one JSON line per model.
        var script = Path.Combine(_dir, "reference.sh");
        File.WriteAllText(script, """
            echo "args: $*"
            echo '{"framework": "stand-in", "mode": "cpu-step", "model": "mlp", "step_ms_median": 1000.0, "step_ms_min": 900.0, "step_ms_max": 1100.0, "forward_ms_median": 400.0, "forward_ms_min": 390.0, "forward_ms_max": 410.0, "step_over_forward": 2.5, "blas": "/usr/lib/stand-in/libblas.so.3"}'
            """);
        var (code, output, err) = Invoke("bench", "step", "--model", "mlp", "--steps", "1", "--repeats", "2", "--batch", "16", "--torch", script, "--python", "/bin/sh");
        Assert.True(code == 0, err);
        Assert.Contains("cpu-step --models mlp --batch 16 --steps 1 --windows 2 --warmup 5", output);
        var row = output.Split('\n').Single(l => l.Contains("│ mlp ") && l.Contains("1000.0"));
        var cells = row.Split('│', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("1000.0 (900.0-1100.0)", cells[1]);
        Assert.Equal("400.0 (390.0-410.0)", cells[2]);
        Assert.Equal("2.50", cells[3]);
        // Our step's median over the stand-in's 1000 ms.
        double ours = double.Parse(cells[4], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal((ours / 1000.0).ToString("F2", System.Globalization.CultureInfo.InvariantCulture), cells[5]);
        Assert.Contains("PyTorch's BLAS: /usr/lib/stand-in/libblas.so.3", output);
    }

    [Fact]
    public void TorchComparisonRefusesAMissingScript()
    {
        var missing = Path.Combine(_dir, "no_such_reference.py");
        var (code, _, err) = Invoke("bench", "step", "--model", "mlp", "--steps", "1", "--repeats", "1", "--torch", missing);
        Assert.NotEqual(0, code);
        Assert.Contains("no_such_reference.py", err);
    }

    [Fact]
    public void TorchComparisonMatchesAModelFileByTheStemOfExportBenchModels()
    {
        // A file named like tools/export_bench_models.py's output is compared with the module of that name; others are not.
        var lstm = Path.Combine(_dir, "seq_lstm.onnx");
        File.Copy(Models.ModelTestUtil.Fixture("tiny_lstm.onnx"), lstm);
        var other = Path.Combine(_dir, "my_gru.onnx");
        File.Copy(Models.ModelTestUtil.Fixture("tiny_gru.onnx"), other);
        var script = Path.Combine(_dir, "reference.sh");
        File.WriteAllText(script, """
            echo "args: $*"
            echo '{"framework": "stand-in", "mode": "cpu-step", "model": "seq_lstm", "step_ms_median": 900.0, "step_ms_min": 800.0, "step_ms_max": 1000.0, "forward_ms_median": 300.0, "forward_ms_min": 290.0, "forward_ms_max": 310.0, "step_over_forward": 3.0}'
            """);
        var (code, output, err) = Invoke("bench", "step", "--model", $"{lstm},{other}", "--steps", "1", "--repeats", "1", "--batch", "4", "--torch", script, "--python", "/bin/sh");
        Assert.True(code == 0, err);
        Assert.Contains("cpu-step --models seq_lstm --batch 4", output);
        Assert.Contains(output.Split('\n'), l => l.Contains("│ seq_lstm ") && l.Contains("900.0 (800.0-1000.0)") && l.Contains("3.00"));
    }

    [Fact]
    public void TorchComparisonReportsAnInterpreterThatCannotStartAndKeepsOurFigures()
    {
        var script = Path.Combine(_dir, "reference.py");
        File.WriteAllText(script, "");
        var (code, output, err) = Invoke("bench", "step", "--model", "mlp", "--steps", "1", "--repeats", "1", "--batch", "8", "--torch", script, "--python", Path.Combine(_dir, "no-such-python"));
        Assert.True(code == 0, err);
        Assert.Contains("PyTorch reference could not run", output);
        Assert.Contains("step / forward", output);
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
    [Fact]
    public void ConstantWeightStepComputesWhatTheStepComputes()
    {
        // tiny_mobilenet: convolutions (depthwise and pointwise), batch norm with running statistics; SGD with momentum and
        // weight decay (an update linear in the gradient, so rounding differences stay rounding-sized).
        var artifacts = Path.Combine(_dir, "artifacts");
        Acwa.Onnx.Training.Compiler.TrainingArtifacts.Generate(OnnxModel.Load(Models.ModelTestUtil.Fixture("tiny_mobilenet.onnx")),
            new Acwa.Onnx.Training.Compiler.ArtifactOptions { Optimizer = Acwa.Onnx.Training.Compiler.OptimizerKind.Sgd, Momentum = 0.9f, WeightDecay = 1e-3f }, artifacts);
        using var runner = new Acwa.Onnx.Training.Runtime.StepRunner(artifacts);
        var rng = new Random(3);
        var x = Enumerable.Range(0, 8 * 3 * 8 * 8).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        long[] y = [0, 1, 2, 0, 1, 2, 0, 1];
        var state = runner.Manifest.State;
        var weight = state.First(s => s.Kind == Acwa.Onnx.Training.StateKind.Parameter && s.Shape.Length == 4);
        var buffer = state.First(s => s.Kind == Acwa.Onnx.Training.StateKind.Buffer);
        // Built before the runner's first step: it feeds the same state and the first step's controls.
        using var constant = new Acwa.Cli.Commands.ConstantWeightsStep(runner, x, y, [8, 3, 8, 8]);
        var read = constant.RunAndRead(runner.Manifest.LossOutput, weight.Output, buffer.Output);
        float loss = runner.TrainStep(x, y, 8).Loss;
        var after = runner.GetState();
        Assert.Equal(loss, read[0][0], 1e-5f * Math.Max(1f, Math.Abs(loss)));
        foreach (var (spec, got) in new[] { (weight, read[1]), (buffer, read[2]) })
        {
            var want = after.Single(t => t.Name == spec.Name).Data!;
            Assert.Equal(want.Length, got.Length);
            for (int i = 0; i < want.Length; i++)
                Assert.True(Math.Abs(want[i] - got[i]) <= 1e-6 + 1e-5 * Math.Abs(want[i]), $"'{spec.Name}'[{i}] after the step: {want[i]} from the step, {got[i]} with constant weights");
        }
    }

    [Fact]
    public void ConstantWeightsAddsTheirTimingsAndProfileAndIsRefusedOnCuda()
    {
        var prof = Path.Combine(_dir, "prof");
        var (code, output, err) = Invoke("bench", "step", "--model", "mlp", "--steps", "1", "--repeats", "2", "--batch", "16", "--constant-weights", "--profile", prof);
        Assert.True(code == 0, err);
        Assert.Contains("per-op-type time of the constant-weight step", output);
        Assert.Contains(Directory.GetFiles(prof, "*.json"), f => Path.GetFileName(f).StartsWith("mlp-constant-step_", StringComparison.Ordinal));
        var text = System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " "); // lines wrap at the console's width
        Assert.Contains("constant-weight step = the step's graph with its parameters baked in as constants", text);
        Assert.Matches(@"mlp: step .*; step with constant weights [\d.]+ \([\d.]+-[\d.]+\) ms", text);
        (code, _, err) = Invoke("bench", "step", "--model", "mlp", "--device", "cuda", "--constant-weights");
        Assert.NotEqual(0, code);
        Assert.Contains("--constant-weights is a CPU diagnostic", err);
    }
}
