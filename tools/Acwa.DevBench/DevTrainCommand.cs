using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Acwa.Cli.Commands;
using Acwa.Onnx;
using Acwa.Onnx.Models;
using Acwa.Onnx.Training.Runtime;
using Spectre.Console;

namespace Acwa.DevBench;

/// <summary>Options of <c>acwa-dev train</c>: the shipped <c>bench train</c>'s, the trajectory check and the PyTorch reference.</summary>
internal sealed record DevTrainOptions
{
    public required BenchTrainOptions Bench { get; init; }

    /// <summary>
    /// Steps of the loss-trajectory check before each model's timing: on CUDA, the CUDA step (and, with
    /// <see cref="BenchTrainOptions.CudaGraph"/>, the captured step) against the CPU step; on the CPU, the trajectory against
    /// one from parameters moved by one ulp. 0: no check.
    /// </summary>
    public int CheckSteps { get; init; } = 5;

    /// <summary>When set, the PyTorch reference runs after ours (CPU: its epoch; CUDA: its throughput).</summary>
    public TorchReferenceOptions? Torch { get; init; }
}

/// <summary>
/// One loss-trajectory comparison over the same batches from the same initial state. <paramref name="Kind"/> is
/// <c>cpu-one-ulp</c> (the CPU against itself from parameters moved by one ulp: the noise floor), <c>cuda</c> or
/// <c>cuda-graph</c> (against the CPU, TF32 off).
/// </summary>
/// <param name="CpuLosses">The CPU step's losses.</param>
/// <param name="Losses">The compared trajectory's losses.</param>
/// <param name="RelativePerStep">|cpu - other| / |cpu| per step.</param>
/// <param name="FirstStepRelative">The first step's relative difference (a forward pass from identical parameters on CUDA).</param>
/// <param name="MaxRelative">The largest relative difference.</param>
/// <param name="CpuSensitivity">The CPU's one-ulp sensitivity measured in the same call (for <c>cpu-one-ulp</c>, <paramref name="MaxRelative"/> itself).</param>
/// <param name="MaxStateDifference">Largest |difference| of the final state against the CPU's (plain CUDA step only).</param>
/// <param name="Verdict">OK, OK (within 10x the CPU's one-ulp sensitivity), MISMATCH (first step), MISMATCH; for <c>cpu-one-ulp</c>, measured.</param>
internal sealed record TrajectoryCheck(string Model, string Kind, int Steps, IReadOnlyList<float> CpuLosses, IReadOnlyList<float> Losses,
    IReadOnlyList<double> RelativePerStep, double FirstStepRelative, double MaxRelative, double CpuSensitivity, double? MaxStateDifference, string Verdict)
{
    /// <summary>False for a mismatch.</summary>
    public bool Ok => !Verdict.StartsWith("MISMATCH", StringComparison.Ordinal);
}

/// <summary>
/// <c>acwa-dev train</c>: <c>acwa bench train</c> (same options, timing and output), with a loss-trajectory check of each
/// model before its timing (<see cref="LossTrajectory"/>: CUDA against CPU, or the CPU's one-ulp sensitivity) and the
/// PyTorch reference (tools/torch_reference.py) in the same run.
/// </summary>
internal static class DevTrainCommand
{
    public static Command Create()
    {
        var bench = new BenchTrainCommand.Arguments();
        var check = new Option<int>("--check-steps") { Description = "Steps compared before each model's timing: CUDA against the CPU step; on the CPU, the trajectory against one with the parameters moved by one ulp (0: skip).", DefaultValueFactory = _ => 5 };
        var torch = new Option<string?>("--torch") { Description = "Path of tools/torch_reference.py: runs the PyTorch reference in the same run (CPU: its epoch of mlp/cnn; CUDA: its throughput of the built-in models)." };
        var python = new Option<string>("--python") { Description = "Python interpreter for --torch.", DefaultValueFactory = _ => "python3" };
        var cmd = new Command("train", "acwa bench train with a CUDA-vs-CPU (or CPU one-ulp) loss-trajectory check per model and PyTorch side by side.");
        bench.AddTo(cmd);
        foreach (var o in new Option[] { check, torch, python }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            BenchTrainOptions b;
            try { b = bench.Read(pr); }
            catch (FormatException e) { return ConsoleOutput.Fail(pr.InvocationConfiguration.Error, e.Message); }
            return Run(new DevTrainOptions
            {
                Bench = b, CheckSteps = pr.GetValue(check),
                Torch = pr.GetValue(torch) is { } script ? new TorchReferenceOptions(script, pr.GetValue(python)!) : null,
            }, pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error);
        });
        return cmd;
    }

    public static int Run(DevTrainOptions o, TextWriter output, TextWriter error) =>
        BenchTrainCommand.Run(o.Bench, output, error, new Hooks(o));

    private sealed class Hooks(DevTrainOptions o) : BenchTrainHooks
    {
        private readonly List<TrajectoryCheck> _checks = [];

        public override string Command => "acwa-dev train";

        public override string? Refuse(BenchTrainOptions b) =>
            o.CheckSteps < 0 ? "need --check-steps >= 0"
            : o.Torch is { } t && !File.Exists(t.Script) ? $"--torch: no such file '{t.Script}'"
            : null;

        public override bool BeforeModel(BenchModel model, BenchTrainOptions b, IAnsiConsole console)
        {
            if (o.CheckSteps == 0) return true;
            var checks = b.Device.IsCuda ? CheckAgainstCpu(model, b, o.CheckSteps) : [CpuSensitivity(model, b, o.CheckSteps)];
            foreach (var c in checks) console.WriteLine(Describe(c));
            _checks.AddRange(checks);
            return checks.All(c => c.Ok);
        }

        public override void Finish(BenchTrainOptions b, BenchTrainReport report, IAnsiConsole console, JsonObject json)
        {
            json["checks"] = BenchJson.Node(_checks);
            if (o.Torch is { } torch) json["torch"] = CompareWithTorch(b, torch, report, console);
        }
    }

    private static string L(IEnumerable<float> v) => string.Join(" ", v.Select(x => x.ToString("F5", CultureInfo.InvariantCulture)));

    private static string Describe(TrajectoryCheck c) => c.Kind == "cpu-one-ulp"
        ? string.Create(CultureInfo.InvariantCulture,
            $"{c.Model}: CPU one-ulp sensitivity over {c.Steps} Adam steps: losses [{L(c.CpuLosses)}], relative change per step [{string.Join(" ", c.RelativePerStep.Select(r => r.ToString("E1", CultureInfo.InvariantCulture)))}], max {c.MaxRelative:E2}")
        : string.Create(CultureInfo.InvariantCulture,
            $"{c.Model}: {(c.Kind == "cuda" ? "CUDA" : "CUDA graph")} (fp32, TF32 off) vs CPU over {c.Steps} steps: losses cpu [{L(c.CpuLosses)}] {c.Kind.Replace('-', ' ')} [{L(c.Losses)}], first-step relative difference {c.FirstStepRelative:E2}, max relative loss difference {c.MaxRelative:E2}, CPU one-ulp sensitivity {c.CpuSensitivity:E2}{(c.MaxStateDifference is { } d ? string.Create(CultureInfo.InvariantCulture, $", max |state difference| {d:E2}") : "")} ({c.Verdict})");

    /// <summary>
    /// Same initial state and batches on CPU and CUDA; compares the loss trajectories and the final parameters. The CUDA
    /// side runs with TF32 off (full fp32): ORT's CUDA provider otherwise computes fp32 convolutions and matrix products with
    /// TF32 on Ampere and newer GPUs. Two checks: the first step's loss (a forward pass from identical parameters) must agree
    /// to 1e-5; the whole trajectory must agree to 1e-3, or else stay within 10x of the CPU's own sensitivity, measured in
    /// the same call as the change a one-ulp perturbation of the parameters makes to the CPU trajectory
    /// (<see cref="LossTrajectory"/>): no fp32 implementation can be held closer than that.
    /// </summary>
    private static List<TrajectoryCheck> CheckAgainstCpu(BenchModel model, BenchTrainOptions o, int steps)
    {
        var (xs, ys) = model.RandomBatches(o.Batch, steps, seed: 7);
        var (cpu, cpuUlp, cpuState) = CpuTrajectories(model, o, xs, ys);
        List<HostTensor> gpuState;
        float[] gpu;
        float[]? graph = null;
        var dir = BenchTrainCommand.Compile(model, o.Device, "gpu");
        try
        {
            var options = new StepRunnerOptions { Device = o.Device, IntraOpThreads = o.IntraOpThreads, CudaTf32 = false };
            gpu = LossTrajectory.Run(dir, options, xs, ys, o.Batch, perturbUlp: false, out gpuState);
            // The graphs are captured from each direction's second run and replayed after it: 8 or more steps show replays.
            if (o.CudaGraph) graph = LossTrajectory.Run(dir, options with { CudaGraph = true }, xs, ys, o.Batch, perturbUlp: false, out _);
        }
        finally { BenchTrainCommand.TryDelete(dir); }
        double sensitivity = LossTrajectory.MaxRelative(cpu, cpuUlp), maxState = 0;
        foreach (var (a, b) in cpuState.Zip(gpuState))
            if (a.Data is not null)
                for (int i = 0; i < a.Data.Length; i++) maxState = Math.Max(maxState, Math.Abs(a.Data[i] - b.Data![i]));
        var checks = new List<TrajectoryCheck>();
        foreach (var (kind, losses) in graph is null ? [("cuda", gpu)] : new[] { ("cuda", gpu), ("cuda-graph", graph) })
        {
            double first = LossTrajectory.MaxRelative(cpu, losses, 1), maxRel = LossTrajectory.MaxRelative(cpu, losses);
            string verdict = first >= 1e-5 ? "MISMATCH (first step)"
                : maxRel < 1e-3 ? "OK"
                : maxRel < 10 * sensitivity ? "OK (within 10x the CPU's one-ulp sensitivity)"
                : "MISMATCH";
            checks.Add(new TrajectoryCheck(model.Name, kind, steps, cpu, losses, LossTrajectory.RelativePerStep(cpu, losses), first, maxRel, sensitivity,
                kind == "cuda" ? maxState : null, verdict));
        }
        return checks;
    }

    /// <summary>
    /// CPU only: how far a one-ulp change of the parameters moves the loss trajectory (<see cref="LossTrajectory"/>), the
    /// noise floor against which any other implementation (CUDA, another thread count, another ORT) can be compared.
    /// </summary>
    private static TrajectoryCheck CpuSensitivity(BenchModel model, BenchTrainOptions o, int steps)
    {
        var (xs, ys) = model.RandomBatches(o.Batch, steps, seed: 7);
        var (a, b, _) = CpuTrajectories(model, o, xs, ys);
        double max = LossTrajectory.MaxRelative(a, b);
        return new TrajectoryCheck(model.Name, "cpu-one-ulp", steps, a, b, LossTrajectory.RelativePerStep(a, b), LossTrajectory.MaxRelative(a, b, 1), max, max, null, "measured");
    }

    /// <summary>The CPU loss trajectory on the given batches, the same from a one-ulp-perturbed start, and the final CPU state (one compile).</summary>
    private static (float[] Losses, float[] Perturbed, List<HostTensor> State) CpuTrajectories(BenchModel model, BenchTrainOptions o, Array[] xs, long[][] ys)
    {
        var dir = BenchTrainCommand.Compile(model, Device.Cpu, "cpu");
        try
        {
            var options = new StepRunnerOptions { IntraOpThreads = o.IntraOpThreads };
            var losses = LossTrajectory.Run(dir, options, xs, ys, o.Batch, perturbUlp: false, out var state);
            var perturbed = LossTrajectory.Run(dir, options, xs, ys, o.Batch, perturbUlp: true, out _);
            return (losses, perturbed, state);
        }
        finally { BenchTrainCommand.TryDelete(dir); }
    }

    /// <summary>Our throughput (CUDA) or epoch (CPU) beside PyTorch's in the same run.</summary>
    internal sealed record TorchThroughputRow(string Model, bool CudaGraph, double AcwaPerS, double TorchPerS, double AcwaOverTorch);

    /// <summary>Our training epoch beside PyTorch's (the same step-imbalanced data).</summary>
    internal sealed record TorchEpochRow(string Model, double AcwaTrainS, double TorchEpochS, double TorchOverAcwa);

    /// <summary>
    /// Runs tools/torch_reference.py after our measurements (CUDA: gpu-throughput of the built-in models; CPU: cpu-epoch of
    /// mlp and cnn) and prints its figures beside ours.
    /// </summary>
    private static JsonObject CompareWithTorch(BenchTrainOptions o, TorchReferenceOptions torchOptions, BenchTrainReport report, IAnsiConsole console)
    {
        var builtin = o.ModelsOrDefault.Where(m => ModelCatalog.BuiltinNames.Contains(m)).ToList();
        var models = o.Device.IsCuda ? builtin : builtin.Where(m => m is "mlp" or "cnn").ToList();
        var json = new JsonObject();
        if (models.Count == 0)
        {
            console.WriteLine($"--torch: no model that tools/torch_reference.py times here ({(o.Device.IsCuda ? string.Join(", ", ModelCatalog.BuiltinNames) : "mlp, cnn")})");
            return json;
        }
        var torch = TorchReference.Run(torchOptions.Python, torchOptions.Script, o.Device.IsCuda
            ? $"gpu-throughput --models {string.Join(",", models)} --batch {o.Batch} --steps {o.Steps} --windows {o.Windows} --warmup {Math.Max(o.Warmup, 10)}"
            : $"cpu-epoch --models {string.Join(",", models)} --repeats 1", console);
        var throughput = new List<TorchThroughputRow>();
        foreach (var r in report.Throughput)
            if (torch.FirstOrDefault(j => (string?)j["model"] == r.Model && j["images_per_s_median"] is not null) is { } pt)
            {
                double p = pt["images_per_s_median"]!.GetValue<double>();
                throughput.Add(new TorchThroughputRow(r.Model, r.CudaGraph, r.PerSecond.Median, p, r.PerSecond.Median / p));
            }
        var epochs = new List<TorchEpochRow>();
        foreach (var e in report.Epochs)
            if (torch.FirstOrDefault(j => (string?)j["model"] == e.Model && j["epoch_s_median"] is not null) is { } pt)
            {
                double p = pt["epoch_s_median"]!.GetValue<double>();
                epochs.Add(new TorchEpochRow(e.Model, e.TrainS, p, p / e.TrainS));
            }
        if (throughput.Count > 0)
        {
            var t = new Table().AddColumns("model", "acwa median", "PyTorch median", "acwa / PyTorch");
            foreach (var r in throughput)
                t.AddRow(Markup.Escape(r.Model + (r.CudaGraph ? " (CUDA graph)" : "")), BenchTrainCommand.F0(r.AcwaPerS), BenchTrainCommand.F0(r.TorchPerS), r.AcwaOverTorch.ToString("F2", CultureInfo.InvariantCulture));
            console.WriteTable("training throughput beside PyTorch (same run)", t);
        }
        if (epochs.Count > 0)
        {
            var t = new Table().AddColumns("model", "acwa train s", "PyTorch epoch s (train)", "PyTorch / acwa");
            foreach (var r in epochs)
                t.AddRow(Markup.Escape(r.Model), r.AcwaTrainS.ToString("F2", CultureInfo.InvariantCulture), r.TorchEpochS.ToString("F2", CultureInfo.InvariantCulture), r.TorchOverAcwa.ToString("F2", CultureInfo.InvariantCulture));
            console.WriteTable("one epoch beside PyTorch (same run)", t);
        }
        json["throughput"] = BenchJson.Node(throughput);
        json["epochs"] = BenchJson.Node(epochs);
        json["reference"] = new JsonArray(torch.Select(j => (JsonNode)j.DeepClone()).ToArray());
        return json;
    }
}
