using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Acwa.Cli.Commands;
using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Training.Compiler;
using Spectre.Console;

namespace Acwa.DevBench;

/// <summary>
/// Compile choices that <c>acwa train</c> and <c>acwa artifacts</c> leave at the device's measured defaults (docs/autodiff.md):
/// comparing them is research, not a user's setting. Null and <c>Auto</c> mean the device's default.
/// </summary>
internal sealed record CompileChoices
{
    public ConvWeightGradMethod ConvWeightGrad { get; init; }

    public ConvInputGradMethod ConvInputGrad { get; init; }

    public MaxPoolGradMethod MaxPoolGrad { get; init; }

    /// <summary>Depthwise convolutions with Ho*Wo*H*W up to this run as dense per-channel MatMuls (0: none).</summary>
    public long? DenseDepthwiseMaxPairs { get; init; }

    /// <summary>LSTMs, GRUs and RNNs keep ORT's fused kernel, their gradient a reverse-time Scan (else unrolled).</summary>
    public bool? FusedRecurrent { get; init; }

    /// <summary>Reductions over the batch and spatial axes as two reductions, per sample then over the batch.</summary>
    public bool? SplitBatchReductions { get; init; }

    /// <summary><paramref name="options"/> with these choices.</summary>
    public ArtifactOptions ApplyTo(ArtifactOptions options) => options with
    {
        SplitBatchReductions = SplitBatchReductions,
        Gradients = (options.Gradients ?? new GradientOptions()) with
        {
            ConvWeightGrad = ConvWeightGrad, ConvInputGrad = ConvInputGrad, MaxPoolGrad = MaxPoolGrad,
            DenseDepthwiseMaxPairs = DenseDepthwiseMaxPairs, FusedRecurrent = FusedRecurrent,
        },
    };

    /// <summary>The choices as settings (snake_case keys, "auto" for the device's default).</summary>
    public IReadOnlyDictionary<string, string> Settings() => new Dictionary<string, string>
    {
        ["conv_weight_grad"] = ConvWeightGrad.ToString(),
        ["conv_input_grad"] = ConvInputGrad.ToString(),
        ["maxpool_grad"] = MaxPoolGrad.ToString(),
        ["dense_depthwise"] = DenseDepthwiseMaxPairs?.ToString(CultureInfo.InvariantCulture) ?? "auto",
        ["fused_recurrent"] = FusedRecurrent is { } f ? (f ? "on" : "off") : "auto",
        ["split_batch_reductions"] = SplitBatchReductions is { } s ? (s ? "on" : "off") : "auto",
    };
}

/// <summary>The PyTorch reference run beside ours: tools/torch_reference.py and the interpreter that runs it.</summary>
internal sealed record TorchReferenceOptions(string Script, string Python = "python3");

/// <summary>Options of <c>acwa-dev step</c>: the shipped <c>bench step</c>'s, and the diagnostics.</summary>
internal sealed record DevStepOptions
{
    public required BenchStepOptions Bench { get; init; }

    public CompileChoices Compile { get; init; } = new();

    /// <summary>CPU only: also time the step's graph with every parameter baked in as a constant (<see cref="ConstantWeightsStep"/>).</summary>
    public bool ConstantWeights { get; init; }

    /// <summary>CUDA only: after warm-up, one training step between cudaProfilerStart and cudaProfilerStop.</summary>
    public bool CudaProfilerRange { get; init; }

    /// <summary>When set, PyTorch's own step and forward are timed after ours on the same device.</summary>
    public TorchReferenceOptions? Torch { get; init; }
}

/// <summary>
/// <c>acwa-dev step</c>: <c>acwa bench step</c> (same options, windows and output) with the compile-choice switches
/// (<see cref="CompileChoices"/>), the constant-weight step, a CUDA profiler range and PyTorch's step / forward beside ours.
/// </summary>
internal static class DevStepCommand
{
    /// <summary>
    /// Models tools/torch_reference.py's step modes define: the built-in ones, and by file stem the modules that
    /// tools/export_bench_models.py exports (same architecture and input; random weights of their own).
    /// </summary>
    internal static readonly string[] TorchModels = ["mlp", "cnn", "resnet20", "resnet32", "seq_lstm", "seq_gru", "text", "mobilenetv2", "mobilenetv3", "vit"];

    public static Command Create()
    {
        var bench = new BenchStepCommand.Arguments();
        var convWeightGrad = MethodOption<ConvWeightGradMethod>("--conv-weight-grad", "Convolution weight-gradient decomposition");
        var convInputGrad = MethodOption<ConvInputGradMethod>("--conv-input-grad", "Convolution input-gradient decomposition");
        var maxPoolGrad = MethodOption<MaxPoolGradMethod>("--maxpool-grad", "MaxPool input-gradient decomposition");
        var denseDepthwise = new Option<long?>("--dense-depthwise") { Description = "Depthwise convolutions with Ho*Wo*H*W up to this run as dense per-channel MatMuls (0: none; default: the device's, CPU 4096)." };
        var splitReductions = new Option<bool?>("--split-batch-reductions") { Description = "true/false: reductions over the batch and spatial axes as two reductions, per sample then over the batch (default: the device's)." };
        var fusedRecurrent = new Option<bool?>("--fused-recurrent") { Description = "true/false: LSTMs, GRUs and RNNs keep ORT's fused kernel in the forward, their gradient a reverse-time Scan (GradientOptions.FusedRecurrent), instead of being unrolled (default: the device's; CPU true, CUDA false)." };
        var constantWeights = new Option<bool>("--constant-weights") { Description = "CPU diagnostic: also times the step's graph with every parameter baked in as a constant (not a training step, its updates are discarded), so that ORT may use its constant-weight kernels (NCHWc convolutions); says how much of the step / forward gap comes from weights being inputs." };
        var profilerRange = new Option<bool>("--cuda-profiler-range") { Description = "CUDA only: after warm-up, run one training step between cudaProfilerStart and cudaProfilerStop (for `ncu --profile-from-start off`), then time as usual." };
        var torch = new Option<string?>("--torch") { Description = "Path of tools/torch_reference.py: after the measurements, times PyTorch's own step and eval-mode forward on the same device in the same run (built-in models, and model files named like tools/export_bench_models.py's: " + string.Join(", ", TorchModels.Skip(4).Select(m => m + ".onnx")) + ") and prints its step / forward ratio beside ours." };
        var python = new Option<string>("--python") { Description = "Python interpreter for --torch.", DefaultValueFactory = _ => "python3" };
        var cmd = new Command("step", "acwa bench step with the research diagnostics: gradient decompositions, constant-weight step, CUDA profiler range, PyTorch side by side.");
        bench.AddTo(cmd);
        foreach (var o in new Option[] { convWeightGrad, convInputGrad, maxPoolGrad, denseDepthwise, splitReductions, fusedRecurrent, constantWeights, profilerRange, torch, python })
            cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            BenchStepOptions b;
            try { b = bench.Read(pr); }
            catch (FormatException e) { return ConsoleOutput.Fail(pr.InvocationConfiguration.Error, e.Message); }
            var o = new DevStepOptions
            {
                Bench = b,
                Compile = new CompileChoices
                {
                    ConvWeightGrad = pr.GetValue(convWeightGrad), ConvInputGrad = pr.GetValue(convInputGrad), MaxPoolGrad = pr.GetValue(maxPoolGrad),
                    DenseDepthwiseMaxPairs = pr.GetValue(denseDepthwise), FusedRecurrent = pr.GetValue(fusedRecurrent), SplitBatchReductions = pr.GetValue(splitReductions),
                },
                ConstantWeights = pr.GetValue(constantWeights), CudaProfilerRange = pr.GetValue(profilerRange),
                Torch = pr.GetValue(torch) is { } script ? new TorchReferenceOptions(script, pr.GetValue(python)!) : null,
            };
            return Run(o, pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error);
        });
        return cmd;
    }

    public static int Run(DevStepOptions o, TextWriter output, TextWriter error) =>
        BenchStepCommand.Run(o.Bench, output, error, new Hooks(o));

    /// <summary>
    /// A decomposition option: "auto" or an enum name, any case; numbers are refused (an enum's number says nothing on a
    /// command line), and the error lists the valid names.
    /// </summary>
    internal static Option<T> MethodOption<T>(string name, string what) where T : struct, Enum => new(name)
    {
        Description = $"{what}: auto (the device's measured default) or one of {string.Join(", ", Enum.GetNames<T>().Skip(1))}.",
        DefaultValueFactory = _ => default,
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "auto";
            if (Enum.TryParse<T>(text, ignoreCase: true, out var m) && !long.TryParse(text, out _)) return m;
            r.AddError($"unknown {name} '{text}' (auto, {string.Join(", ", Enum.GetNames<T>().Skip(1))})");
            return default;
        },
    };

    /// <summary>The diagnostics, added to the shipped command's measurement.</summary>
    private sealed class Hooks(DevStepOptions o) : BenchStepHooks
    {
        public override string Command => "acwa-dev step";

        public override string? Refuse(BenchStepOptions b)
        {
            if (o.CudaProfilerRange && !b.Device.IsCuda) return $"--cuda-profiler-range needs a CUDA device (--device cuda), not '{b.Device}'";
            if (o.ConstantWeights && b.Device.IsCuda) return "--constant-weights is a CPU diagnostic (ORT's constant-weight CPU kernels); leave out --device cuda";
            if (o.Torch is { } t && !File.Exists(t.Script)) return $"--torch: no such file '{t.Script}'";
            return null;
        }

        public override ArtifactOptions Compile(ArtifactOptions options) => o.Compile.ApplyTo(options);

        public override IReadOnlyDictionary<string, string> Settings() => o.Compile.Settings();

        public override IReadOnlyList<BenchStepWork> Extras(BenchStepBatch batch, string? profilePrefix)
        {
            if (!o.ConstantWeights) return [];
            const string tag = "constant-step";
            var step = new ConstantWeightsStep(batch.Runner, batch.X, batch.Y, batch.InputShape, profilePrefix is null ? null : profilePrefix + tag);
            return [new BenchStepWork("constant-weight step", tag, step.Run, step)];
        }

        public override void AfterWarmup(Action step)
        {
            if (o.CudaProfilerRange) CudaProfiler.Range(step);
        }

        public override void Finish(BenchStepOptions b, IReadOnlyList<BenchStepRow> rows, IAnsiConsole console, JsonObject json)
        {
            if (o.ConstantWeights) console.WriteLine("constant-weight step = the step's graph with its parameters baked in as constants (a diagnostic: the same work, updates discarded; ORT may use its constant-weight kernels).");
            if (o.Torch is { } torch) json["torch"] = BenchJson.Node(CompareWithTorch(b, torch, rows, console));
        }
    }

    /// <summary>Median, min and max of a quantity the PyTorch reference measured (it reports no single values).</summary>
    internal sealed record TorchSpread(double Median, double Min, double Max);

    /// <summary>One model's step and forward in PyTorch beside our step (same machine, device, batch and windows).</summary>
    internal sealed record TorchStepRow(string Model, TorchSpread TorchStepMs, TorchSpread TorchForwardMs, double TorchStepOverForward, double AcwaStepMs, double AcwaOverTorch, string? TorchBlas);

    /// <summary>
    /// PyTorch's own step / forward ratio for the same models, batch and windows on the same machine and device, run after
    /// ours: its step (train-mode forward, cross-entropy, backward, Adam) against its eval-mode forward under no_grad.
    /// </summary>
    private static List<TorchStepRow> CompareWithTorch(BenchStepOptions o, TorchReferenceOptions torchOptions, IReadOnlyList<BenchStepRow> rows, IAnsiConsole console)
    {
        var result = new List<TorchStepRow>();
        var models = rows.Select(r => r.Model).Where(TorchModels.Contains).Distinct().ToList();
        if (models.Count == 0) { console.WriteLine($"--torch: no model that tools/torch_reference.py defines ({string.Join(", ", TorchModels)})"); return result; }
        var device = o.Device;
        var torch = TorchReference.Run(torchOptions.Python, torchOptions.Script, string.Create(CultureInfo.InvariantCulture,
            $"{(device.IsCuda ? "gpu-step" : "cpu-step")} --models {string.Join(",", models)} --batch {o.Batch} --steps {o.Steps} --windows {o.Repeats} --warmup {o.Warmup}"), console);
        var t = new Table().AddColumns("model", "PyTorch step ms", "PyTorch forward ms", "PyTorch step / forward", "acwa step ms", "acwa step / PyTorch step");
        foreach (var r in rows.Where(r => models.Contains(r.Model)))
        {
            var j = torch.FirstOrDefault(j => (string?)j["model"] == r.Model && j["step_ms_median"] is not null);
            if (j is null) { t.AddRow(r.Model, "-", "-", "-", BenchStepCommand.F(r.StepMs.Median), "-"); continue; }
            double G(string k) => j[k]!.GetValue<double>();
            var row = new TorchStepRow(r.Model, new TorchSpread(G("step_ms_median"), G("step_ms_min"), G("step_ms_max")),
                new TorchSpread(G("forward_ms_median"), G("forward_ms_min"), G("forward_ms_max")), G("step_over_forward"), r.StepMs.Median,
                r.StepMs.Median / G("step_ms_median"), (string?)j["blas"]);
            result.Add(row);
            t.AddRow(r.Model, Spread(row.TorchStepMs), Spread(row.TorchForwardMs), R(row.TorchStepOverForward), BenchStepCommand.F(row.AcwaStepMs), R(row.AcwaOverTorch));
        }
        console.WriteTable($"PyTorch on the same machine, same batch, {(device.IsCuda ? "CUDA" : "CPU")} (its step against its own eval-mode forward)", t);
        // Linear layers and matmuls run on whatever libblas.so.3 points at (Debian's default: the reference BLAS).
        var blas = torch.Select(j => (string?)j["blas"]).Where(b => b is not null).Distinct().ToList();
        if (blas.Count > 0 && !device.IsCuda) console.WriteLine($"PyTorch's BLAS: {string.Join("; ", blas)}");
        return result;
    }

    private static string Spread(TorchSpread ms) => $"{BenchStepCommand.F(ms.Median)} ({BenchStepCommand.F(ms.Min)}-{BenchStepCommand.F(ms.Max)})";

    private static string R(double ratio) => ratio.ToString("F2", CultureInfo.InvariantCulture);
}
