using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Acwa.Onnx.Models;
using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime;
using Spectre.Console;

namespace Acwa.Cli.Commands;

/// <summary>Plain options of <c>acwa bench step</c>.</summary>
internal sealed record BenchStepOptions(IReadOnlyList<string> Models, string Device = "cpu", int Batch = 128, int Steps = 20, int Repeats = 5,
    int Warmup = 5, string? ProfileDir = null, string Optimizer = "adam", string ConvWeightGrad = "auto", bool PerTensorOptimizer = false,
    string MaxPoolGrad = "auto", IReadOnlyList<string>? Trainable = null, IReadOnlyList<string>? Frozen = null,
    bool FrozenBatchNorm = false, long? DenseDepthwiseMaxPairs = null, string ConvInputGrad = "auto", bool CudaGraph = false,
    bool? SplitBatchReductions = null, bool CudaProfilerRange = false, string? TorchScript = null, string Python = "python3", bool? FusedRecurrent = null, bool ConstantWeights = false);

/// <summary>
/// One model's timings (milliseconds per step / per forward pass, one value per repeat). <paramref name="ForwardMs"/> is
/// the inference export (parameters baked in as initializers: ORT may fold batch norm and pick its constant-weight
/// kernels, e.g. NCHWc convolutions on CPU); <paramref name="EvalForwardMs"/> is the evaluation graph, whose parameters
/// are graph inputs bound to the runner's state like the training step's, so it runs the same kernels as the step's forward.
/// <paramref name="ConstantWeightsStepMs"/> (only with <c>--constant-weights</c>) is the step's graph with its parameters
/// baked in as constants (<see cref="ConstantWeightsStep"/>).
/// </summary>
internal sealed record BenchStepRow(string Model, double[] StepMs, double[] ForwardMs, double[] EvalForwardMs, double[]? ConstantWeightsStepMs = null)
{
    public double StepMedian => BenchMetricsCommand.Median(StepMs);
    public double ForwardMedian => BenchMetricsCommand.Median(ForwardMs);
    public double EvalForwardMedian => BenchMetricsCommand.Median(EvalForwardMs);
    public double Ratio => StepMedian / ForwardMedian;
    public double EvalRatio => StepMedian / EvalForwardMedian;
}

/// <summary>
/// <c>acwa bench step</c>: the time of one training step (forward + loss + gradients + optimizer, one graph run through the
/// runtime's ping-pong IOBinding) against the time of the forward pass alone (inference graph, IOBinding, same device and
/// batch), in the same process, alternating so that machine noise hits both. Optionally writes ORT profiles and prints a
/// per-op-type breakdown of the training step.
/// </summary>
internal static class BenchStepCommand
{
    /// <summary>
    /// Untimed runs at the start of each timed window last at least this long (ms). Every session has its own thread pool,
    /// whose threads keep spinning for a while after a run, so the runs right after a switch of session compete with the
    /// previous session's spinning threads (measured effect: see docs/training-speed.md, "Training step against forward
    /// pass"). CPU only: on CUDA the sessions
    /// run with one intra-op thread (no pool threads to spin), and the GPU scripts' time budgets stay as they were.
    /// </summary>
    internal const double SettleMs = 300;

    /// <summary>Target ratio (step / forward) on CPU for the small CNN and ResNet-20.</summary>
    public const double TargetRatio = 3.0;

    public static Command Create()
    {
        var models = new Option<string>("--model") { Description = "Comma-separated models: mlp, cnn, resnet20, resnet32, or forward .onnx files with a fixed-size input [N, ...] (images, features, sequences, int64 token ids) and logits [N, classes].", DefaultValueFactory = _ => "mlp,cnn,resnet20" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        var batch = new Option<int>("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 128 };
        var steps = new Option<int>("--steps") { Description = "Steps per timed window.", DefaultValueFactory = _ => 20 };
        var repeats = new Option<int>("--repeats") { Description = "Timed windows (median and min/max reported).", DefaultValueFactory = _ => 5 };
        var profile = new Option<string?>("--profile") { Description = "Folder for ORT profiles of the training step; prints a per-op-type breakdown." };
        var optimizer = new Option<string>("--optimizer") { Description = "adam, sgd or adamw.", DefaultValueFactory = _ => "adam" };
        var convWeightGrad = new Option<string>("--conv-weight-grad") { Description = "Convolution weight-gradient decomposition: auto (the device's measured default) or one of " + string.Join(", ", Enum.GetNames<ConvWeightGradMethod>().Skip(1)) + ".", DefaultValueFactory = _ => "auto" };
        var convInputGrad = new Option<string>("--conv-input-grad") { Description = "Convolution input-gradient decomposition: auto (the device's measured default) or one of " + string.Join(", ", Enum.GetNames<ConvInputGradMethod>().Skip(1)) + ".", DefaultValueFactory = _ => "auto" };
        var maxPoolGrad = new Option<string>("--maxpool-grad") { Description = "MaxPool input-gradient decomposition: auto (the device's measured default) or one of " + string.Join(", ", Enum.GetNames<MaxPoolGradMethod>().Skip(1)) + ".", DefaultValueFactory = _ => "auto" };
        var trainable = new Option<string?>("--trainable") { Description = "Comma-separated initializers to train, '*' as wildcard; default: every fp32 parameter." };
        var frozen = new Option<string?>("--frozen") { Description = "Comma-separated initializers to keep frozen, '*' as wildcard (times fine-tuning a part of the model)." };
        var frozenBn = new Option<bool>("--frozen-bn") { Description = "Batch-norm layers whose scale and bias are frozen run in inference mode." };
        var denseDepthwise = new Option<long?>("--dense-depthwise") { Description = "Depthwise convolutions with Ho*Wo*H*W up to this run as dense per-channel MatMuls (0: none; default: the device's, CPU 4096)." };
        var cudaGraph = new Option<bool>("--cuda-graph") { Description = "CUDA only: run the training steps as captured CUDA graphs (StepRunnerOptions.CudaGraph)." };
        var splitReductions = new Option<bool?>("--split-batch-reductions") { Description = "true/false: reductions over the batch and spatial axes as two reductions, per sample then over the batch (default: the device's)." };
        var profilerRange = new Option<bool>("--cuda-profiler-range") { Description = "CUDA only: after warm-up, run one training step between cudaProfilerStart and cudaProfilerStop (for `ncu --profile-from-start off`), then time as usual." };
        var torch = new Option<string?>("--torch") { Description = "Path of tools/torch_reference.py: after the measurements, times PyTorch's own step and eval-mode forward on the same device in the same run (built-in models, and model files named like tools/export_bench_models.py's: seq_lstm.onnx, seq_gru.onnx, text.onnx, mobilenetv2.onnx, mobilenetv3.onnx, vit.onnx) and prints its step / forward ratio beside ours." };
        var python = new Option<string>("--python") { Description = "Python interpreter for --torch.", DefaultValueFactory = _ => "python3" };
        var fusedRecurrent = new Option<bool?>("--fused-recurrent") { Description = "true/false: LSTMs, GRUs and RNNs keep ORT's fused kernel in the forward, their gradient a reverse-time Scan (GradientOptions.FusedRecurrent), instead of being unrolled (default: the device's; CPU true, CUDA false)." };
        var constantWeights = new Option<bool>("--constant-weights") { Description = "CPU diagnostic: also times the step's graph with every parameter baked in as a constant (not a training step, its updates are discarded), so that ORT may use its constant-weight kernels (NCHWc convolutions); says how much of the step / forward gap comes from weights being inputs." };
        var perTensor = new Option<bool>("--per-tensor-optimizer") { Description = "One optimizer update per parameter tensor instead of the fused update (to compare)." };
        var cmd = new Command("step", "Time one training step against the forward pass alone (batch 128 by default), per model.")
        {
            models, device, batch, steps, repeats, profile, optimizer, convWeightGrad, convInputGrad, perTensor, maxPoolGrad, trainable, frozen, frozenBn, denseDepthwise, cudaGraph, splitReductions, profilerRange, torch, python, fusedRecurrent, constantWeights,
        };
        cmd.SetAction(pr => Run(new BenchStepOptions(
            pr.GetValue(models)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            pr.GetValue(device)!, pr.GetValue(batch), pr.GetValue(steps), pr.GetValue(repeats), 5, pr.GetValue(profile), pr.GetValue(optimizer)!,
            pr.GetValue(convWeightGrad)!, pr.GetValue(perTensor), pr.GetValue(maxPoolGrad)!,
            ArtifactsCommand.SplitList(pr.GetValue(trainable)), ArtifactsCommand.SplitList(pr.GetValue(frozen)), pr.GetValue(frozenBn), pr.GetValue(denseDepthwise),
            pr.GetValue(convInputGrad)!, pr.GetValue(cudaGraph), pr.GetValue(splitReductions), pr.GetValue(profilerRange),
            pr.GetValue(torch), pr.GetValue(python)!, pr.GetValue(fusedRecurrent), pr.GetValue(constantWeights)),
            pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error));
        return cmd;
    }

    public static int Run(BenchStepOptions o, TextWriter output, TextWriter error)
    {
        if (o.Batch < 1 || o.Steps < 1 || o.Repeats < 1)
            return ConsoleOutput.Fail(error, "need --batch, --steps and --repeats >= 1");
        Device device;
        try { device = Device.Parse(o.Device); }
        catch (FormatException e) { return ConsoleOutput.Fail(error, e.Message); }
        if (o.CudaGraph && !device.IsCuda) return ConsoleOutput.Fail(error, $"--cuda-graph needs a CUDA device (--device cuda), not '{device}'");
        if (o.CudaProfilerRange && !device.IsCuda) return ConsoleOutput.Fail(error, $"--cuda-profiler-range needs a CUDA device (--device cuda), not '{device}'");
        if (o.ConstantWeights && device.IsCuda) return ConsoleOutput.Fail(error, "--constant-weights is a CPU diagnostic (ORT's constant-weight CPU kernels); leave out --device cuda");
        if (o.TorchScript is not null && !File.Exists(o.TorchScript)) return ConsoleOutput.Fail(error, $"--torch: no such file '{o.TorchScript}'");
        var console = ConsoleOutput.For(output);
        var rows = new List<BenchStepRow>();
        try
        {
            foreach (var m in o.Models)
                rows.Add(Measure(m, device, o, console));
        }
        catch (Exception e) when (e is ArgumentException or FormatException or DeviceUnavailableException or InvalidDataException or NotSupportedException)
        {
            return ConsoleOutput.Fail(error, e.Message);
        }
        var t = new Table().AddColumns("model", "step ms: median (min-max)", "forward ms", "step / forward", "target", "eval-graph forward ms", "step / eval forward");
        if (o.ConstantWeights) t.AddColumns("constant-weight step ms", "its / forward");
        foreach (var r in rows)
        {
            bool targeted = device.Kind == DeviceKind.Cpu && r.Model is "cnn" or "resnet20";
            var cells = new List<string> { r.Model, Spread(r.StepMs), Spread(r.ForwardMs), r.Ratio.ToString("F2", CultureInfo.InvariantCulture),
                targeted ? (r.Ratio <= TargetRatio ? $"<= {TargetRatio:F1} met" : $"<= {TargetRatio:F1} MISSED") : "-",
                Spread(r.EvalForwardMs), r.EvalRatio.ToString("F2", CultureInfo.InvariantCulture) };
            if (r.ConstantWeightsStepMs is { } c)
                cells.AddRange([Spread(c), (BenchMetricsCommand.Median(c) / r.ForwardMedian).ToString("F2", CultureInfo.InvariantCulture)]);
            t.AddRow(cells.ToArray());
        }
        console.Write(t);
        console.WriteLine($"device {device}, batch {o.Batch}, optimizer {o.Optimizer} ({(o.PerTensorOptimizer ? "per tensor" : "fused")}), conv weight grad {o.ConvWeightGrad}, conv input grad {o.ConvInputGrad}, maxpool grad {o.MaxPoolGrad}, split batch reductions {(o.SplitBatchReductions is { } sr ? (sr ? "on" : "off") : "auto")}{(o.CudaGraph ? ", steps as CUDA graphs" : "")}, {o.Repeats} windows of {o.Steps} steps, {Environment.ProcessorCount} cores, ORT {OrtEnv.Instance().GetVersionString()}");
        console.WriteLine("forward = inference export (parameters as initializers, the target's reference); eval-graph forward = parameters as graph inputs, the kernels the step's forward runs.");
        if (o.ConstantWeights) console.WriteLine("constant-weight step = the step's graph with its parameters baked in as constants (a diagnostic: the same work, updates discarded; ORT may use its constant-weight kernels).");
        if (o.TorchScript is not null) WriteTorchComparison(o, device, rows, console);
        return 0;
    }

    /// <summary>
    /// Models tools/torch_reference.py's step modes define: the built-in ones, and by file stem the modules that
    /// tools/export_bench_models.py exports (same architecture and input; random weights of their own).
    /// </summary>
    private static readonly string[] TorchModels = ["mlp", "cnn", "resnet20", "resnet32", "seq_lstm", "seq_gru", "text", "mobilenetv2", "mobilenetv3", "vit"];

    /// <summary>
    /// PyTorch's own step / forward ratio for the same models, batch and windows on the same machine and device, run after
    /// ours: its step (train-mode forward, cross-entropy, backward, Adam) against its eval-mode forward under no_grad.
    /// </summary>
    private static void WriteTorchComparison(BenchStepOptions o, Device device, List<BenchStepRow> rows, IAnsiConsole console)
    {
        var models = rows.Select(r => ProfileTag(r.Model)).Where(TorchModels.Contains).Distinct().ToList();
        if (models.Count == 0) { console.WriteLine($"--torch: no model that tools/torch_reference.py defines ({string.Join(", ", TorchModels)})"); return; }
        var torch = TorchReference.Run(o.Python, o.TorchScript!, string.Create(CultureInfo.InvariantCulture,
            $"{(device.IsCuda ? "gpu-step" : "cpu-step")} --models {string.Join(",", models)} --batch {o.Batch} --steps {o.Steps} --windows {o.Repeats} --warmup {o.Warmup}"), console);
        var t = new Table().Title($"PyTorch on the same machine, same batch, {(device.IsCuda ? "CUDA" : "CPU")} (its step against its own eval-mode forward)")
            .AddColumns("model", "PyTorch step ms", "PyTorch forward ms", "PyTorch step / forward", "acwa step ms", "acwa step / PyTorch step");
        foreach (var r in rows.Where(r => models.Contains(ProfileTag(r.Model))))
        {
            var j = torch.FirstOrDefault(j => (string?)j["model"] == ProfileTag(r.Model) && j["step_ms_median"] is not null);
            if (j is null) { t.AddRow(ProfileTag(r.Model), "-", "-", "-", F(r.StepMedian), "-"); continue; }
            double G(string k) => j[k]!.GetValue<double>();
            t.AddRow(ProfileTag(r.Model), $"{F(G("step_ms_median"))} ({F(G("step_ms_min"))}-{F(G("step_ms_max"))})",
                $"{F(G("forward_ms_median"))} ({F(G("forward_ms_min"))}-{F(G("forward_ms_max"))})",
                G("step_over_forward").ToString("F2", CultureInfo.InvariantCulture), F(r.StepMedian),
                (r.StepMedian / G("step_ms_median")).ToString("F2", CultureInfo.InvariantCulture));
        }
        console.Write(t);
        // Linear layers and matmuls run on whatever libblas.so.3 points at (Debian's default: the reference BLAS).
        var blas = torch.Select(j => (string?)j["blas"]).Where(b => b is not null).Distinct().ToList();
        if (blas.Count > 0 && !device.IsCuda) console.WriteLine($"PyTorch's BLAS: {string.Join("; ", blas)}");
    }

    /// <summary>A name for temp folders and profile files: the built-in name, or a model file's name without folder and extension.</summary>
    internal static string ProfileTag(string model) =>
        ModelCatalog.BuiltinNames.Contains(model.ToLowerInvariant()) ? model.ToLowerInvariant() : Path.GetFileNameWithoutExtension(model);

    private static int NodeCount(string dir, string file) => Acwa.Onnx.Graphs.OnnxModel.Load(Path.Combine(dir, file)).Graph.Node.Count;

    private static string F(double ms) => ms.ToString(ms < 10 ? "F3" : "F1", CultureInfo.InvariantCulture);

    private static string Spread(double[] ms) => $"{F(BenchMetricsCommand.Median(ms))} ({F(ms.Min())}-{F(ms.Max())})";

    /// <summary>A decomposition named on the command line ("auto" or an enum name, any case; numbers refused).</summary>
    private static T ParseMethod<T>(string option, string value) where T : struct, Enum =>
        Enum.TryParse<T>(value, ignoreCase: true, out var m) && !int.TryParse(value, out _) ? m
            : throw new ArgumentException($"unknown {option} '{value}' (auto, {string.Join(", ", Enum.GetNames<T>().Skip(1))})");

    private static BenchStepRow Measure(string model, Device device, BenchStepOptions o, IAnsiConsole console)
    {
        var bench = BenchModel.Load(model);
        var (forward, sampleDims, classes) = (bench.Forward, bench.Sample, bench.Classes);
        var tag = ProfileTag(model);
        var dir = Directory.CreateTempSubdirectory($"acwa-bench-{tag}-").FullName;
        try
        {
            var opt = TrainingNames.ParseOptimizer(o.Optimizer);
            var cwg = ParseMethod<ConvWeightGradMethod>("--conv-weight-grad", o.ConvWeightGrad);
            var cig = ParseMethod<ConvInputGradMethod>("--conv-input-grad", o.ConvInputGrad);
            var mpg = ParseMethod<MaxPoolGradMethod>("--maxpool-grad", o.MaxPoolGrad);
            TrainingArtifacts.Generate(forward, new ArtifactOptions
            {
                Optimizer = opt, Momentum = opt == OptimizerKind.Sgd ? 0.9f : 0f, Device = device,
                Gradients = new GradientOptions { ConvWeightGrad = cwg, ConvInputGrad = cig, MaxPoolGrad = mpg, DenseDepthwiseMaxPairs = o.DenseDepthwiseMaxPairs, FusedRecurrent = o.FusedRecurrent }, FusedOptimizer = !o.PerTensorOptimizer,
                SplitBatchReductions = o.SplitBatchReductions, Trainable = o.Trainable, Frozen = o.Frozen, FrozenBatchNorm = o.FrozenBatchNorm,
            }, dir);
            int n = o.Batch;
            long[] inputShape = [n, .. sampleDims.Select(d => (long)d)];
            var rng = new Random(1);
            var x = bench.RandomInput(n, rng);
            var y = bench.RandomLabels(n, rng);

            using var runner = new StepRunner(dir, new StepRunnerOptions { Device = device, CudaGraph = o.CudaGraph });
            using var fwd = new ForwardTimer(Path.Combine(dir, "inference_model.onnx"), device, x, inputShape, classes);
            // The inference export without ORT's layout optimisations (on CPU: no NCHWc convolutions, which need constant weights).
            using var fwdPlain = new ForwardTimer(Path.Combine(dir, "inference_model.onnx"), device, x, inputShape, classes, level: GraphOptimizationLevel.ORT_ENABLE_EXTENDED);
            for (int i = 0; i < o.Warmup; i++) { BenchModel.TrainStep(runner, x, y, n); fwd.Run(); BenchModel.Evaluate(runner, x, n); fwdPlain.Run(); }
            using var constant = o.ConstantWeights ? new ConstantWeightsStep(runner, x, y, inputShape) : null;
            for (int i = 0; i < o.Warmup && constant is not null; i++) constant.Run();
            if (o.CudaProfilerRange) CudaProfiler.Range(() => BenchModel.TrainStep(runner, x, y, n));
            var stepMs = new double[o.Repeats];
            var fwdMs = new double[o.Repeats];
            var plainMs = new double[o.Repeats];
            var evalMs = new double[o.Repeats];
            var constantMs = constant is null ? null : new double[o.Repeats];
            // Each window starts with untimed runs for SettleMs, so that the timed runs see their own session only.
            double Window(Action run)
            {
                var settle = Stopwatch.StartNew();
                do run(); while (!device.IsCuda && settle.Elapsed.TotalMilliseconds < SettleMs);
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < o.Steps; i++) run();
                return sw.Elapsed.TotalMilliseconds / o.Steps;
            }
            for (int r = 0; r < o.Repeats; r++)
            {
                stepMs[r] = Window(() => BenchModel.TrainStep(runner, x, y, n));
                fwdMs[r] = Window(fwd.Run);
                evalMs[r] = Window(() => BenchModel.Evaluate(runner, x, n));
                plainMs[r] = Window(fwdPlain.Run);
                if (constant is not null) constantMs![r] = Window(constant.Run);
            }
            var row = new BenchStepRow(tag, stepMs, fwdMs, evalMs, constantMs);
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{tag}: step {F(row.StepMedian)} ms, forward {F(row.ForwardMedian)} ms (step / forward {row.Ratio:F2}), eval-graph forward {F(row.EvalForwardMedian)} ms (step / eval forward {row.EvalRatio:F2}), inference export without layout optimisation {Spread(plainMs)} ms; graph nodes: training step {NodeCount(dir, runner.Manifest.TrainingModel)}, inference {NodeCount(dir, runner.Manifest.InferenceModel)}{(constantMs is null ? "" : $"; step with constant weights {Spread(constantMs)} ms")}"));
            if (o.ProfileDir is not null) Profile(tag, dir, device, x, y, inputShape, classes, o, console);
            return row;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Runs a few steps with ORT profiling on and prints time per op type, largest first.</summary>
    private static void Profile(string model, string dir, Device device, Array x, long[] y, long[] inputShape, int classes, BenchStepOptions o, IAnsiConsole console)
    {
        Directory.CreateDirectory(o.ProfileDir!);
        var so = SessionOptionsFactory.Create(device);
        // The prefix must be set before profiling is switched on: ORT takes it when profiling is enabled.
        so.ProfileOutputPathPrefix = Path.Combine(Path.GetFullPath(o.ProfileDir!), $"{model}-step");
        so.EnableProfiling = true;
        using (var runner = new StepRunner(dir, new StepRunnerOptions { Device = device, SessionOptions = so }))
        {
            for (int i = 0; i < o.Warmup + o.Steps; i++) BenchModel.TrainStep(runner, x, y, (int)inputShape[0]);
            if (o.ConstantWeights)
            {
                using var constant = new ConstantWeightsStep(runner, x, y, inputShape, Path.Combine(Path.GetFullPath(o.ProfileDir!), $"{model}-constant-step"));
                for (int i = 0; i < o.Warmup + o.Steps; i++) constant.Run();
            }
        }
        so.Dispose();
        using (var fwd = new ForwardTimer(Path.Combine(dir, "inference_model.onnx"), device, x, inputShape, classes,
                   Path.Combine(Path.GetFullPath(o.ProfileDir!), $"{model}-forward")))
        {
            for (int i = 0; i < o.Warmup + o.Steps; i++) fwd.Run();
        }
        PrintBreakdown(model, "training step", "step", o, console);
        PrintBreakdown(model, "forward pass", "forward", o, console);
        if (o.ConstantWeights) PrintBreakdown(model, "constant-weight step", "constant-step", o, console);
    }

    private static void PrintBreakdown(string model, string what, string suffix, BenchStepOptions o, IAnsiConsole console)
    {
        // The step runner holds two sessions; the one that ran the steps wrote the largest file.
        var file = Directory.GetFiles(o.ProfileDir!, $"{model}-{suffix}_*.json").OrderByDescending(f => new FileInfo(f).Length).FirstOrDefault();
        if (file is null) { console.WriteLine($"no profile file was written for the {what}"); return; }
        var byOp = OpBreakdown(file, skipRuns: o.Warmup);
        double total = byOp.Values.Sum();
        var t = new Table().AddColumns("op type", "ms per run", "share");
        foreach (var (op, us) in byOp.OrderByDescending(kv => kv.Value).Take(15))
            t.AddRow(op, (us / 1000.0).ToString("F3", CultureInfo.InvariantCulture), (us / total).ToString("P1", CultureInfo.InvariantCulture));
        console.WriteLine($"{model}: per-op-type time of the {what}, mean of the {o.Steps} runs after {o.Warmup} warm-up runs (ORT profile {file}; on CUDA, host-side time per node)");
        console.Write(t);
    }

    /// <summary>
    /// Kernel durations per op type from an ORT profile JSON file, in microseconds per run, averaged over the runs after
    /// the first <paramref name="skipRuns"/> (warm-up: on CUDA the first runs include cuDNN's algorithm search, which
    /// would otherwise dominate the table). Runs are the profile's <c>model_run</c> events; a node event belongs to the run
    /// whose interval holds its start. On CUDA the durations are the host's side of each node (launch and bookkeeping).
    /// </summary>
    internal static Dictionary<string, double> OpBreakdown(string profileJson, int skipRuns = 0)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(profileJson));
        var runs = doc.RootElement.EnumerateArray()
            .Where(e => e.TryGetProperty("name", out var n) && n.GetString() == "model_run")
            .Select(e => (Start: e.GetProperty("ts").GetDouble(), End: e.GetProperty("ts").GetDouble() + e.GetProperty("dur").GetDouble()))
            .OrderBy(r => r.Start).Skip(skipRuns).ToList();
        var byOp = new Dictionary<string, double>();
        if (runs.Count == 0) return byOp;
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node") continue;
            if (!e.TryGetProperty("name", out var name) || !name.GetString()!.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
            double ts = e.GetProperty("ts").GetDouble();
            if (!runs.Exists(r => ts >= r.Start && ts <= r.End)) continue;
            var op = e.TryGetProperty("args", out var a) && a.TryGetProperty("op_name", out var on) ? on.GetString()! : "?";
            byOp[op] = byOp.GetValueOrDefault(op) + e.GetProperty("dur").GetDouble() / runs.Count;
        }
        return byOp;
    }

    /// <summary>The forward pass alone: the inference graph through IOBinding with preallocated input and output.</summary>
    private sealed class ForwardTimer : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly OrtIoBinding _binding;
        private readonly OrtValue _input, _output;
        private readonly RunOptions _run = new();
        private readonly SessionOptions _options;

        public ForwardTimer(string path, Device device, Array x, long[] inputShape, int classes, string? profilePrefix = null,
            GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_ALL)
        {
            // The model's own inference as ORT runs it: exported models may keep shape arithmetic on the host.
            _options = SessionOptionsFactory.Create(device, allowCpuFallback: true);
            _options.GraphOptimizationLevel = level;
            if (profilePrefix is not null)
            {
                _options.ProfileOutputPathPrefix = profilePrefix;
                _options.EnableProfiling = true;
            }
            _session = new InferenceSession(path, _options);
            _input = BenchModel.InputValue(x, inputShape);
            _output = OrtValue.CreateTensorValueFromMemory(new float[inputShape[0] * classes], [inputShape[0], classes]);
            _binding = _session.CreateIoBinding();
            _binding.BindInput(_session.InputNames[0], _input);
            _binding.BindOutput(_session.OutputNames[0], _output);
        }

        public void Run()
        {
            _binding.SynchronizeBoundInputs();
            _session.RunWithBinding(_run, _binding);
            _binding.SynchronizeBoundOutputs();
        }

        public void Dispose()
        {
            _binding.Dispose(); _input.Dispose(); _output.Dispose(); _run.Dispose(); _session.Dispose(); _options.Dispose();
        }
    }
}

/// <summary>cudaProfilerStart/Stop of the CUDA runtime that ORT's CUDA provider loaded: marks a region for <c>ncu --profile-from-start off</c>.</summary>
internal static partial class CudaProfiler
{
    [System.Runtime.InteropServices.LibraryImport("libcudart.so.13")]
    private static partial int cudaProfilerStart();

    [System.Runtime.InteropServices.LibraryImport("libcudart.so.13")]
    private static partial int cudaProfilerStop();

    [System.Runtime.InteropServices.LibraryImport("libcudart.so.13")]
    private static partial int cudaDeviceSynchronize();

    /// <summary>Runs <paramref name="work"/> inside a profiler range, the device synchronised on both sides.</summary>
    public static void Range(Action work)
    {
        Check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        Check(cudaProfilerStart(), "cudaProfilerStart");
        work();
        Check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        Check(cudaProfilerStop(), "cudaProfilerStop");
    }

    private static void Check(int status, string call)
    {
        if (status != 0) throw new InvalidOperationException($"{call} returned CUDA error {status}");
    }
}
