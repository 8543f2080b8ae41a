using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Acwa.Onnx.Models;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime;
using Spectre.Console;

namespace Acwa.Cli.Commands;

/// <summary>Options of <c>acwa bench step</c>.</summary>
internal sealed record BenchStepOptions
{
    /// <summary>Built-in model names, or forward .onnx files with a fixed-size input [N, ...] and logits [N, classes].</summary>
    public required IReadOnlyList<string> Models { get; init; }

    public Device Device { get; init; } = Device.Cpu;

    public int Batch { get; init; } = 128;

    /// <summary>Runs per timed window.</summary>
    public int Steps { get; init; } = 20;

    /// <summary>Timed windows of every measured graph (median and min-max reported).</summary>
    public int Repeats { get; init; } = 5;

    /// <summary>Untimed runs of every graph before the first window (and before the profiled runs).</summary>
    public int Warmup { get; init; } = 5;

    /// <summary>adam, sgd or adamw.</summary>
    public string Optimizer { get; init; } = "adam";

    /// <summary>One optimizer update per parameter tensor instead of the fused update (as <c>acwa artifacts --per-tensor-optimizer</c>).</summary>
    public bool PerTensorOptimizer { get; init; }

    /// <summary>Initializers to train ('*' as wildcard); null: every fp32 parameter.</summary>
    public IReadOnlyList<string>? Trainable { get; init; }

    /// <summary>Initializers to keep frozen ('*' as wildcard).</summary>
    public IReadOnlyList<string>? Frozen { get; init; }

    /// <summary>Batch-norm layers whose scale and bias are frozen run in inference mode.</summary>
    public bool FrozenBatchNorm { get; init; }

    /// <summary>CUDA only: the training steps run as captured CUDA graphs.</summary>
    public bool CudaGraph { get; init; }

    /// <summary>When set, ORT profiles of the step and the forward pass go to this folder, and a per-op-type breakdown is printed.</summary>
    public string? ProfileDir { get; init; }

    /// <summary>When set, the results are also written there as JSON (<see cref="BenchJson"/>).</summary>
    public string? JsonPath { get; init; }
}

/// <summary>
/// One model's timings (milliseconds per run over the windows). <see cref="ForwardMs"/> is the inference export (parameters
/// baked in as initializers: ORT may fold batch norm and pick its constant-weight kernels, e.g. NCHWc convolutions on
/// CPU); <see cref="EvalForwardMs"/> is the evaluation graph, whose parameters are graph inputs bound to the runner's state
/// like the training step's, so it runs the same kernels as the step's forward; <see cref="UnoptimizedForwardMs"/> is the
/// inference export without ORT's layout optimisations. <see cref="Extras"/> are what a developer tool times beside them.
/// </summary>
internal sealed record BenchStepRow(string Model, int TrainingNodes, int InferenceNodes, Measured StepMs, Measured ForwardMs,
    Measured EvalForwardMs, Measured UnoptimizedForwardMs, IReadOnlyList<BenchStepExtraTiming> Extras)
{
    /// <summary>Median step over median forward (inference export).</summary>
    public double StepOverForward => StepMs.Median / ForwardMs.Median;

    /// <summary>Median step over median evaluation-graph forward.</summary>
    public double StepOverEvalForward => StepMs.Median / EvalForwardMs.Median;
}

/// <summary>An extra graph timed in the same windows as the step (<see cref="BenchStepHooks.Extras"/>).</summary>
internal sealed record BenchStepExtraTiming(string Name, Measured Ms, double OverForward);

/// <summary>ORT's time per op type of one profiled graph (milliseconds per run, the warm-up runs left out).</summary>
internal sealed record BenchStepProfile(string Model, string Graph, string File, IReadOnlyDictionary<string, double> MsPerRun);

/// <summary>What one graph of a bench step run is: its runner, one batch and its shape.</summary>
internal sealed record BenchStepBatch(StepRunner Runner, Array X, long[] Y, long[] InputShape);

/// <summary>Extra work timed beside the step: a name for tables and JSON, a tag for profile file names, one run, and what to dispose.</summary>
internal sealed class BenchStepWork(string name, string tag, Action run, IDisposable? owner = null) : IDisposable
{
    public string Name { get; } = name;
    public string Tag { get; } = tag;
    public void Run() => run();
    public void Dispose() => owner?.Dispose();
}

/// <summary>
/// What a developer tool (tools/Acwa.DevBench) adds to <c>bench step</c> without a second copy of its timing: compile
/// choices, extra graphs timed in the same settled windows as the step, work after warm-up, and reports after the table.
/// The shipped command runs with <see cref="None"/>, which changes nothing.
/// </summary>
internal class BenchStepHooks
{
    public static readonly BenchStepHooks None = new();

    /// <summary>The command as the user typed it, for the JSON document's <c>command</c>.</summary>
    public virtual string Command => "acwa bench step";

    /// <summary>An error when the options cannot run as asked (e.g. a CUDA-only choice on the CPU), else null.</summary>
    public virtual string? Refuse(BenchStepOptions options) => null;

    /// <summary>The compile options of the measured step, from the shipped command's.</summary>
    public virtual ArtifactOptions Compile(ArtifactOptions options) => options;

    /// <summary>Settings printed (and written to JSON as <c>settings</c>, snake_case keys) beside the shipped ones.</summary>
    public virtual IReadOnlyDictionary<string, string> Settings() => new Dictionary<string, string>();

    /// <summary>
    /// Extra graphs over the warmed-up <paramref name="batch"/>.Runner, each timed in its own window in every repeat. With
    /// <paramref name="profilePrefix"/> set (the profiling pass) they write ORT profiles with that prefix plus their tag.
    /// </summary>
    public virtual IReadOnlyList<BenchStepWork> Extras(BenchStepBatch batch, string? profilePrefix) => [];

    /// <summary>Called once per model after warm-up, with one training step to run.</summary>
    public virtual void AfterWarmup(Action step) { }

    /// <summary>After the table: further reports, and what they add to the JSON document.</summary>
    public virtual void Finish(BenchStepOptions options, IReadOnlyList<BenchStepRow> rows, IAnsiConsole console, JsonObject json) { }
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

    /// <summary>The command-line options of <c>bench step</c>, shared with the developer tool's <c>step</c>, which adds its own.</summary>
    internal sealed class Arguments
    {
        private readonly Option<string> _models = new("--model") { Description = "Comma-separated models: mlp, cnn, resnet20, resnet32, or forward .onnx files with a fixed-size input [N, ...] (images, features, sequences, int64 token ids) and logits [N, classes].", DefaultValueFactory = _ => "mlp,cnn,resnet20" };
        private readonly Option<string> _device = new("--device") { Description = "cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        private readonly Option<int> _batch = new("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 128 };
        private readonly Option<int> _steps = new("--steps") { Description = "Steps per timed window.", DefaultValueFactory = _ => 20 };
        private readonly Option<int> _repeats = new("--repeats") { Description = "Timed windows (median and min/max reported).", DefaultValueFactory = _ => 5 };
        private readonly Option<string?> _profile = new("--profile") { Description = "Folder for ORT profiles of the training step; prints a per-op-type breakdown." };
        private readonly Option<string> _optimizer = new("--optimizer") { Description = "adam, sgd or adamw.", DefaultValueFactory = _ => "adam" };
        private readonly Option<bool> _perTensor = new("--per-tensor-optimizer") { Description = "One optimizer update per parameter tensor instead of the fused update (as acwa artifacts --per-tensor-optimizer)." };
        private readonly Option<string?> _trainable = new("--trainable") { Description = "Comma-separated initializers to train, '*' as wildcard; default: every fp32 parameter." };
        private readonly Option<string?> _frozen = new("--frozen") { Description = "Comma-separated initializers to keep frozen, '*' as wildcard (times fine-tuning a part of the model)." };
        private readonly Option<bool> _frozenBn = new("--frozen-bn") { Description = "Batch-norm layers whose scale and bias are frozen run in inference mode." };
        private readonly Option<bool> _cudaGraph = new("--cuda-graph") { Description = "CUDA only: run the training steps as captured CUDA graphs (StepRunnerOptions.CudaGraph)." };
        private readonly Option<string?> _json = BenchCommand.JsonOption();

        /// <summary>Adds the options to <paramref name="command"/>.</summary>
        public void AddTo(Command command)
        {
            foreach (var o in new Option[] { _models, _device, _batch, _steps, _repeats, _profile, _optimizer, _perTensor, _trainable, _frozen, _frozenBn, _cudaGraph, _json })
                command.Options.Add(o);
        }

        /// <summary>The options record of a parse; <see cref="FormatException"/> for a value that does not parse (names it).</summary>
        public BenchStepOptions Read(ParseResult pr) => new()
        {
            Models = BenchCommand.SplitModels(pr.GetValue(_models)!), Device = Device.Parse(pr.GetValue(_device)!),
            Batch = pr.GetValue(_batch), Steps = pr.GetValue(_steps), Repeats = pr.GetValue(_repeats), ProfileDir = pr.GetValue(_profile),
            Optimizer = pr.GetValue(_optimizer)!, PerTensorOptimizer = pr.GetValue(_perTensor),
            Trainable = ArtifactsCommand.SplitList(pr.GetValue(_trainable)), Frozen = ArtifactsCommand.SplitList(pr.GetValue(_frozen)),
            FrozenBatchNorm = pr.GetValue(_frozenBn), CudaGraph = pr.GetValue(_cudaGraph), JsonPath = pr.GetValue(_json),
        };
    }

    public static Command Create()
    {
        var arguments = new Arguments();
        var cmd = new Command("step", "Time one training step against the forward pass alone (batch 128 by default), per model.");
        arguments.AddTo(cmd);
        cmd.SetAction(pr => Run(arguments, pr, BenchStepHooks.None));
        return cmd;
    }

    /// <summary>Reads the options of <paramref name="pr"/> and runs; a value that does not parse is an error (exit code 2).</summary>
    internal static int Run(Arguments arguments, ParseResult pr, BenchStepHooks hooks)
    {
        BenchStepOptions o;
        try { o = arguments.Read(pr); }
        catch (FormatException e) { return ConsoleOutput.Fail(pr.InvocationConfiguration.Error, e.Message); }
        return Run(o, pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error, hooks);
    }

    public static int Run(BenchStepOptions o, TextWriter output, TextWriter error, BenchStepHooks? hooks = null)
    {
        hooks ??= BenchStepHooks.None;
        if (o.Batch < 1 || o.Steps < 1 || o.Repeats < 1 || o.Warmup < 0)
            return ConsoleOutput.Fail(error, "need --batch, --steps and --repeats >= 1");
        var device = o.Device;
        if (o.CudaGraph && !device.IsCuda) return ConsoleOutput.Fail(error, $"--cuda-graph needs a CUDA device (--device cuda), not '{device}'");
        if (hooks.Refuse(o) is { } refused) return ConsoleOutput.Fail(error, refused);
        if (BenchJson.CheckPath(o.JsonPath) is { } bad) return ConsoleOutput.Fail(error, bad);
        var console = ConsoleOutput.For(output);
        var rows = new List<BenchStepRow>();
        var profiles = new List<BenchStepProfile>();
        try
        {
            foreach (var m in o.Models)
                rows.Add(Measure(m, o, hooks, console, profiles));
        }
        catch (Exception e) when (e is ArgumentException or FormatException or DeviceUnavailableException or InvalidDataException or NotSupportedException)
        {
            return ConsoleOutput.Fail(error, e.Message);
        }
        var t = new Table().AddColumns("model", "step ms: median (min-max)", "forward ms", "step / forward", "eval-graph forward ms", "step / eval forward");
        var extraNames = rows.SelectMany(r => r.Extras.Select(x => x.Name)).Distinct().ToList();
        foreach (var name in extraNames) t.AddColumns($"{name} ms", $"{name} / forward");
        foreach (var r in rows)
        {
            var cells = new List<string> { r.Model, Spread(r.StepMs), Spread(r.ForwardMs), R(r.StepOverForward), Spread(r.EvalForwardMs), R(r.StepOverEvalForward) };
            foreach (var name in extraNames)
                cells.AddRange(r.Extras.FirstOrDefault(x => x.Name == name) is { } x ? [Spread(x.Ms), R(x.OverForward)] : ["-", "-"]);
            t.AddRow(cells.Select(Markup.Escape).ToArray());
        }
        console.Write(t);
        var settings = Settings(o, hooks);
        console.WriteLine(string.Join(", ", settings.Select(kv => $"{kv.Key.Replace('_', ' ')} {kv.Value}")) + $", {Environment.ProcessorCount} cores, ORT {OrtEnv.Instance().GetVersionString()}");
        console.WriteLine("forward = inference export (parameters as initializers); eval-graph forward = parameters as graph inputs, the kernels the step's forward runs.");

        var json = BenchJson.Header(hooks.Command);
        json["device"] = device.ToString();
        json["options"] = BenchJson.Node(new
        {
            o.Models, o.Batch, o.Steps, o.Repeats, o.Warmup, o.Optimizer, o.PerTensorOptimizer, o.Trainable, o.Frozen, o.FrozenBatchNorm, o.CudaGraph, o.ProfileDir,
        });
        json["settings"] = BenchJson.Node(settings);
        json["models"] = BenchJson.Node(rows);
        if (profiles.Count > 0) json["profiles"] = BenchJson.Node(profiles);
        hooks.Finish(o, rows, console, json);
        if (o.JsonPath is null) return 0;
        try { BenchJson.Write(o.JsonPath, json); }
        catch (IOException e) { return ConsoleOutput.Fail(error, e.Message); }
        console.WriteLine($"results written to {o.JsonPath}");
        return 0;
    }

    /// <summary>What the numbers were measured with: the shipped settings, then the hooks'.</summary>
    private static Dictionary<string, string> Settings(BenchStepOptions o, BenchStepHooks hooks)
    {
        var s = new Dictionary<string, string>
        {
            ["device"] = o.Device.ToString(),
            ["batch"] = o.Batch.ToString(CultureInfo.InvariantCulture),
            ["optimizer"] = $"{o.Optimizer} ({(o.PerTensorOptimizer ? "per tensor" : "fused")})",
            ["cuda_graph"] = o.CudaGraph ? "on" : "off",
            ["windows"] = $"{o.Repeats} of {o.Steps} runs",
        };
        foreach (var (k, v) in hooks.Settings()) s[k] = v;
        return s;
    }

    /// <summary>A name for temp folders and profile files: the built-in name, or a model file's name without folder and extension.</summary>
    internal static string ProfileTag(string model) =>
        ModelCatalog.BuiltinNames.Contains(model.ToLowerInvariant()) ? model.ToLowerInvariant() : Path.GetFileNameWithoutExtension(model);

    private static int NodeCount(string dir, string file) => Acwa.Onnx.Graphs.OnnxModel.Load(Path.Combine(dir, file)).Graph.Node.Count;

    internal static string F(double ms) => ms.ToString(ms < 10 ? "F3" : "F1", CultureInfo.InvariantCulture);

    private static string R(double ratio) => ratio.ToString("F2", CultureInfo.InvariantCulture);

    private static string Spread(Measured ms) => $"{F(ms.Median)} ({F(ms.Min)}-{F(ms.Max)})";

    private static BenchStepRow Measure(string model, BenchStepOptions o, BenchStepHooks hooks, IAnsiConsole console, List<BenchStepProfile> profiles)
    {
        var device = o.Device;
        var bench = BenchModel.Load(model);
        var (forward, sampleDims, classes) = (bench.Forward, bench.Sample, bench.Classes);
        var tag = ProfileTag(model);
        var dir = Directory.CreateTempSubdirectory($"acwa-bench-{tag}-").FullName;
        try
        {
            var opt = TrainingNames.ParseOptimizer(o.Optimizer);
            TrainingArtifacts.Generate(forward, hooks.Compile(new ArtifactOptions
            {
                Optimizer = opt, Momentum = opt == OptimizerKind.Sgd ? 0.9f : 0f, Device = device,
                FusedOptimizer = !o.PerTensorOptimizer, Trainable = o.Trainable, Frozen = o.Frozen, FrozenBatchNorm = o.FrozenBatchNorm,
            }), dir);
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
            var extras = hooks.Extras(new BenchStepBatch(runner, x, y, inputShape), profilePrefix: null);
            try
            {
                foreach (var e in extras) for (int i = 0; i < o.Warmup; i++) e.Run();
                hooks.AfterWarmup(() => BenchModel.TrainStep(runner, x, y, n));
                var stepMs = new double[o.Repeats];
                var fwdMs = new double[o.Repeats];
                var plainMs = new double[o.Repeats];
                var evalMs = new double[o.Repeats];
                var extraMs = extras.Select(_ => new double[o.Repeats]).ToArray();
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
                    for (int k = 0; k < extras.Count; k++) extraMs[k][r] = Window(extras[k].Run);
                }
                var forwardMs = Measured.Of(fwdMs);
                var row = new BenchStepRow(tag, NodeCount(dir, runner.Manifest.TrainingModel), NodeCount(dir, runner.Manifest.InferenceModel),
                    Measured.Of(stepMs), forwardMs, Measured.Of(evalMs), Measured.Of(plainMs),
                    extras.Select((e, k) => new BenchStepExtraTiming(e.Name, Measured.Of(extraMs[k]), Measured.MedianOf(extraMs[k]) / forwardMs.Median)).ToList());
                console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{tag}: step {F(row.StepMs.Median)} ms, forward {F(row.ForwardMs.Median)} ms (step / forward {row.StepOverForward:F2}), eval-graph forward {F(row.EvalForwardMs.Median)} ms (step / eval forward {row.StepOverEvalForward:F2}), inference export without layout optimisation {Spread(row.UnoptimizedForwardMs)} ms; graph nodes: training step {row.TrainingNodes}, inference {row.InferenceNodes}{string.Concat(row.Extras.Select(e => $"; {e.Name} {Spread(e.Ms)} ms"))}"));
                if (o.ProfileDir is not null) profiles.AddRange(Profile(tag, dir, x, y, inputShape, classes, o, hooks, console));
                return row;
            }
            finally
            {
                foreach (var e in extras) e.Dispose();
            }
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Runs a few steps with ORT profiling on and prints time per op type, largest first.</summary>
    private static List<BenchStepProfile> Profile(string model, string dir, Array x, long[] y, long[] inputShape, int classes, BenchStepOptions o, BenchStepHooks hooks, IAnsiConsole console)
    {
        var device = o.Device;
        var profileDir = Path.GetFullPath(o.ProfileDir!);
        Directory.CreateDirectory(profileDir);
        var graphs = new List<(string What, string Suffix)> { ("training step", "step"), ("forward pass", "forward") };
        var so = SessionOptionsFactory.Create(device);
        // The prefix must be set before profiling is switched on: ORT takes it when profiling is enabled.
        so.ProfileOutputPathPrefix = Path.Combine(profileDir, $"{model}-step");
        so.EnableProfiling = true;
        using (var runner = new StepRunner(dir, new StepRunnerOptions { Device = device, SessionOptions = so }))
        {
            for (int i = 0; i < o.Warmup + o.Steps; i++) BenchModel.TrainStep(runner, x, y, (int)inputShape[0]);
            foreach (var extra in hooks.Extras(new BenchStepBatch(runner, x, y, inputShape), Path.Combine(profileDir, model + "-")))
            {
                using (extra)
                    for (int i = 0; i < o.Warmup + o.Steps; i++) extra.Run();
                graphs.Add((extra.Name, extra.Tag));
            }
        }
        so.Dispose();
        using (var fwd = new ForwardTimer(Path.Combine(dir, "inference_model.onnx"), device, x, inputShape, classes,
                   Path.Combine(profileDir, $"{model}-forward")))
        {
            for (int i = 0; i < o.Warmup + o.Steps; i++) fwd.Run();
        }
        var profiles = new List<BenchStepProfile>();
        foreach (var (what, suffix) in graphs)
            if (PrintBreakdown(model, what, suffix, o, console) is { } p) profiles.Add(p);
        return profiles;
    }

    private static BenchStepProfile? PrintBreakdown(string model, string what, string suffix, BenchStepOptions o, IAnsiConsole console)
    {
        // The step runner holds two sessions; the one that ran the steps wrote the largest file.
        var file = Directory.GetFiles(o.ProfileDir!, $"{model}-{suffix}_*.json").OrderByDescending(f => new FileInfo(f).Length).FirstOrDefault();
        if (file is null) { console.WriteLine($"no profile file was written for the {what}"); return null; }
        var byOp = OpBreakdown(file, skipRuns: o.Warmup);
        double total = byOp.Values.Sum();
        var t = new Table().AddColumns("op type", "ms per run", "share");
        foreach (var (op, us) in byOp.OrderByDescending(kv => kv.Value).Take(15))
            t.AddRow(Markup.Escape(op), (us / 1000.0).ToString("F3", CultureInfo.InvariantCulture), (us / total).ToString("P1", CultureInfo.InvariantCulture));
        console.WriteLine($"{model}: per-op-type time of the {what}, mean of the {o.Steps} runs after {o.Warmup} warm-up runs (ORT profile {file}; on CUDA, host-side time per node)");
        console.Write(t);
        return new BenchStepProfile(model, what, file, byOp.OrderByDescending(kv => kv.Value).ToDictionary(kv => kv.Key, kv => kv.Value / 1000.0));
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
