using System.Globalization;
using Acwa.DevBench;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Tests.Cli;

namespace Acwa.Onnx.Tests.DevBench;

/// <summary><c>acwa-dev step</c>: the shipped bench step plus the diagnostics, read through its <c>--json</c> file.</summary>
public sealed class DevStepCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("acwa-dev-step-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Invoke(params string[] args) => DevBenchRun.Invoke(args);

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void TimesTheStepLikeTheShippedCommandWithTheCompileChoicesItWasGiven()
    {
        var json = Path.Combine(_dir, "step.json");
        var (code, output, err) = Invoke("step", "--model", "cnn", "--steps", "1", "--repeats", "2", "--batch", "8",
            "--conv-weight-grad", "im2colconvmatmul", "--maxpool-grad", "Auto", "--split-batch-reductions", "false", "--json", json);
        Assert.True(code == 0, err);
        var doc = BenchJsonAssert.Load(json, "acwa-dev step");
        BenchStepCommandTests.CheckRow(Assert.Single(doc["models"]!.AsArray()), "cnn", repeats: 2);
        var settings = doc["settings"]!;
        Assert.Equal("Im2ColConvMatMul", (string?)settings["conv_weight_grad"]);
        Assert.Equal("Auto", (string?)settings["maxpool_grad"]);
        Assert.Equal("off", (string?)settings["split_batch_reductions"]);
        Assert.Equal("auto", (string?)settings["fused_recurrent"]);
        Assert.Contains("conv weight grad Im2ColConvMatMul", output);
    }

    [Fact]
    public void CompileChoicesReachTheCompiledStep()
    {
        // Per-tap GEMMs and the im2col Conv give different training graphs of the same CNN; auto is the device's default.
        var forward = Acwa.Onnx.Models.BuiltinModels.All.First(m => m.FileName == "cnn.onnx").Build();
        int Nodes(CompileChoices c) =>
            Acwa.Onnx.Training.Compiler.TrainingArtifacts.Compile(forward, c.ApplyTo(new Acwa.Onnx.Training.Compiler.ArtifactOptions())).TrainingModel.Graph.Node.Count;
        var choices = new[] { Acwa.Onnx.Autodiff.ConvWeightGradMethod.Im2ColConvMatMul, Acwa.Onnx.Autodiff.ConvWeightGradMethod.PerTapGemm }
            .Select(m => Nodes(new CompileChoices { ConvWeightGrad = m })).ToList();
        Assert.NotEqual(choices[0], choices[1]);
        // The choices change only what they name.
        var split = new CompileChoices { SplitBatchReductions = false, FusedRecurrent = true }.ApplyTo(
            new Acwa.Onnx.Training.Compiler.ArtifactOptions { Optimizer = Acwa.Onnx.Training.Compiler.OptimizerKind.Sgd, FrozenBatchNorm = true });
        Assert.False(split.SplitBatchReductions);
        Assert.True(split.Gradients!.FusedRecurrent);
        Assert.Equal(Acwa.Onnx.Autodiff.ConvWeightGradMethod.Auto, split.Gradients.ConvWeightGrad);
        Assert.Equal(Acwa.Onnx.Training.Compiler.OptimizerKind.Sgd, split.Optimizer);
        Assert.True(split.FrozenBatchNorm);
    }

    [Fact]
    public void RejectsAnUnknownConvWeightGradMethodListingTheValidOnes()
    {
        var (code, _, err) = Invoke("step", "--model", "mlp", "--steps", "1", "--repeats", "1", "--conv-weight-grad", "fastest");
        Assert.NotEqual(0, code);
        Assert.Contains("'fastest'", err);
        Assert.Contains("Im2ColConvMatMul", err);
    }

    [Fact]
    public void RejectsANumberAsConvInputGradMethodListingTheValidOnes()
    {
        var (code, _, err) = Invoke("step", "--model", "mlp", "--steps", "1", "--repeats", "1", "--conv-input-grad", "2");
        Assert.NotEqual(0, code);
        Assert.Contains("--conv-input-grad '2'", err);
        Assert.Contains("FlippedConvStride1ElseTranspose", err);
    }

    [Fact]
    public void RefusesCudaOnlyDiagnosticsOnTheCpuNamingTheOption()
    {
        var (code, _, err) = Invoke("step", "--model", "mlp", "--steps", "1", "--repeats", "1", "--cuda-profiler-range");
        Assert.Equal(2, code);
        Assert.Contains("--cuda-profiler-range needs a CUDA device", err);
        (code, _, err) = Invoke("step", "--model", "mlp", "--steps", "1", "--repeats", "1", "--cuda-graph");
        Assert.Equal(2, code);
        Assert.Contains("--cuda-graph needs a CUDA device", err);
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
        using var constant = new ConstantWeightsStep(runner, x, y, [8, 3, 8, 8]);
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

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void ConstantWeightsAddTheirTimingsAndProfileAndAreRefusedOnCuda()
    {
        var prof = Path.Combine(_dir, "prof");
        var json = Path.Combine(_dir, "step.json");
        var (code, output, err) = Invoke("step", "--model", "mlp", "--steps", "1", "--repeats", "2", "--batch", "16", "--constant-weights", "--profile", prof, "--json", json);
        Assert.True(code == 0, err);
        var doc = BenchJsonAssert.Load(json, "acwa-dev step");
        var row = BenchStepCommandTests.CheckRow(Assert.Single(doc["models"]!.AsArray()), "mlp", repeats: 2);
        var extra = Assert.Single(row["extras"]!.AsArray())!;
        Assert.Equal("constant-weight step", (string?)extra["name"]);
        double constant = BenchJsonAssert.Measured(extra["ms"], 2);
        BenchJsonAssert.Ratio(constant / (double)row["forward_ms"]!["median"]!, (double)extra["over_forward"]!);
        var profile = doc["profiles"]!.AsArray().Single(p => (string?)p!["graph"] == "constant-weight step")!;
        Assert.StartsWith("mlp-constant-step_", Path.GetFileName((string)profile["file"]!), StringComparison.Ordinal);
        Assert.NotEmpty(profile["ms_per_run"]!.AsObject());
        Assert.Contains("per-op-type time of the constant-weight step", output);
        Assert.Contains("constant-weight step = the step's graph with its parameters baked in as constants", output);
        // The console's table has the extra columns on the model's one line.
        var line = output.Split('\n').Single(l => l.StartsWith("│ mlp ", StringComparison.Ordinal));
        Assert.Equal(8, line.Split('│', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Length);

        (code, _, err) = Invoke("step", "--model", "mlp", "--device", "cuda", "--constant-weights");
        Assert.Equal(2, code);
        Assert.Contains("--constant-weights is a CPU diagnostic", err);
    }

    /// <summary>Stands in for tools/torch_reference.py (tests must not need Python): the same command line, one JSON line per model.</summary>
    private string StandIn(string model, double step, double forward)
    {
        var script = Path.Combine(_dir, "reference.sh");
        File.WriteAllText(script, $$"""
            echo "args: $*"
            echo '{"framework": "stand-in", "mode": "cpu-step", "model": "{{model}}", "step_ms_median": {{step.ToString(CultureInfo.InvariantCulture)}}, "step_ms_min": {{(step * 0.9).ToString(CultureInfo.InvariantCulture)}}, "step_ms_max": {{(step * 1.1).ToString(CultureInfo.InvariantCulture)}}, "forward_ms_median": {{forward.ToString(CultureInfo.InvariantCulture)}}, "forward_ms_min": {{(forward * 0.975).ToString(CultureInfo.InvariantCulture)}}, "forward_ms_max": {{(forward * 1.025).ToString(CultureInfo.InvariantCulture)}}, "step_over_forward": {{(step / forward).ToString(CultureInfo.InvariantCulture)}}, "blas": "/usr/lib/stand-in/libblas.so.3"}'
            """);
        return script;
    }

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void ComparesWithThePyTorchReferenceItRunsPrintingItsRatioBesideOurs()
    {
        var script = StandIn("mlp", 1000.0, 400.0);
        var json = Path.Combine(_dir, "step.json");
        var (code, output, err) = Invoke("step", "--model", "mlp", "--steps", "1", "--repeats", "2", "--batch", "16", "--torch", script, "--python", "/bin/sh", "--json", json);
        Assert.True(code == 0, err);
        Assert.Contains("cpu-step --models mlp --batch 16 --steps 1 --windows 2 --warmup 5", output);
        var doc = BenchJsonAssert.Load(json, "acwa-dev step");
        double ours = (double)doc["models"]![0]!["step_ms"]!["median"]!;
        var torch = Assert.Single(doc["torch"]!.AsArray())!;
        Assert.Equal("mlp", (string?)torch["model"]);
        Assert.Equal(1000.0, (double)torch["torch_step_ms"]!["median"]!);
        Assert.Equal(900.0, (double)torch["torch_step_ms"]!["min"]!);
        Assert.Equal(400.0, (double)torch["torch_forward_ms"]!["median"]!);
        Assert.Equal(2.5, (double)torch["torch_step_over_forward"]!);
        Assert.Equal(ours, (double)torch["acwa_step_ms"]!);
        BenchJsonAssert.Ratio(ours / 1000.0, (double)torch["acwa_over_torch"]!);
        Assert.Equal("/usr/lib/stand-in/libblas.so.3", (string?)torch["torch_blas"]);
        // The console table: one line per model, the stand-in's figures and our ratio to them.
        var cells = output.Split('\n').Single(l => l.StartsWith("│ mlp ", StringComparison.Ordinal) && l.Contains("1000.0", StringComparison.Ordinal))
            .Split('│', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["mlp", "1000.0 (900.0-1100.0)", "400.0 (390.0-410.0)", "2.50"], cells[..4]);
        Assert.Equal((ours / 1000.0).ToString("F2", CultureInfo.InvariantCulture), cells[5]);
        Assert.Contains("PyTorch's BLAS: /usr/lib/stand-in/libblas.so.3", output);
    }

    [Fact]
    public void TorchComparisonRefusesAMissingScript()
    {
        var missing = Path.Combine(_dir, "no_such_reference.py");
        var (code, _, err) = Invoke("step", "--model", "mlp", "--steps", "1", "--repeats", "1", "--torch", missing);
        Assert.Equal(2, code);
        Assert.Contains("no_such_reference.py", err);
    }

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void TorchComparisonMatchesAModelFileByTheStemOfExportBenchModels()
    {
        // A file named like tools/export_bench_models.py's output is compared with the module of that name; others are not.
        var lstm = Path.Combine(_dir, "seq_lstm.onnx");
        File.Copy(Models.ModelTestUtil.Fixture("tiny_lstm.onnx"), lstm);
        var other = Path.Combine(_dir, "my_gru.onnx");
        File.Copy(Models.ModelTestUtil.Fixture("tiny_gru.onnx"), other);
        var script = StandIn("seq_lstm", 900.0, 300.0);
        var json = Path.Combine(_dir, "step.json");
        var (code, output, err) = Invoke("step", "--model", $"{lstm},{other}", "--steps", "1", "--repeats", "1", "--batch", "4", "--torch", script, "--python", "/bin/sh", "--json", json);
        Assert.True(code == 0, err);
        Assert.Contains("cpu-step --models seq_lstm --batch 4", output);
        var doc = BenchJsonAssert.Load(json, "acwa-dev step");
        Assert.Equal(["seq_lstm", "my_gru"], doc["models"]!.AsArray().Select(r => (string?)r!["model"]));
        var torch = Assert.Single(doc["torch"]!.AsArray())!;
        Assert.Equal("seq_lstm", (string?)torch["model"]);
        Assert.Equal(3.0, (double)torch["torch_step_over_forward"]!);
    }

    [Fact]
    public void TorchComparisonReportsAnInterpreterThatCannotStartAndKeepsOurFigures()
    {
        var script = Path.Combine(_dir, "reference.py");
        File.WriteAllText(script, "");
        var json = Path.Combine(_dir, "step.json");
        var (code, output, err) = Invoke("step", "--model", "mlp", "--steps", "1", "--repeats", "1", "--batch", "8", "--torch", script, "--python", Path.Combine(_dir, "no-such-python"), "--json", json);
        Assert.True(code == 0, err);
        Assert.Contains("PyTorch reference could not run", output);
        var doc = BenchJsonAssert.Load(json, "acwa-dev step");
        BenchStepCommandTests.CheckRow(Assert.Single(doc["models"]!.AsArray()), "mlp", repeats: 1);
        Assert.Empty(doc["torch"]!.AsArray());
    }
}
