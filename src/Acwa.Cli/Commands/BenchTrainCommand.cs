using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Acwa.Cli.Training;
using Acwa.Onnx.Models;
using Acwa.Onnx.Data;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;
using Acwa.Onnx.Weighting;
using Microsoft.ML.OnnxRuntime;
using Spectre.Console;

namespace Acwa.Cli.Commands;

/// <summary>Plain options of <c>acwa bench train</c>.</summary>
internal sealed record BenchTrainOptions
{
    public IReadOnlyList<string>? Models { get; init; }
    public string Device { get; init; } = "cpu";
    public int Batch { get; init; } = 128;
    public int Warmup { get; init; } = 20;
    public int Steps { get; init; } = 50;
    public int Windows { get; init; } = 5;
    public int CheckSteps { get; init; } = 5;
    public bool Epoch { get; init; } = true;
    public string? TorchScript { get; init; }
    public string Python { get; init; } = "python3";
    public int Threads { get; init; }
    public bool CudaGraph { get; init; }
}

/// <summary>
/// <c>acwa bench train</c>, in one process: (1) on CUDA, checks that the CUDA step gives the same loss trajectory as the CPU
/// step for a few steps (relative difference stated); (2) times training throughput (images or samples per second, median of several windows
/// after warm-up, batches uploaded from the host every step as in real training) per model; (3) times one epoch through the
/// Trainer with ACWA in the loop (step-imbalanced Fashion-MNIST on CPU when installed, a synthetic dataset of the same size
/// otherwise) and reports the ACWA epoch end (validation metrics + weight update) relative to the epoch; (4) optionally runs
/// the PyTorch reference script (tools/torch_reference.py) in the same run and prints both side by side.
/// </summary>
internal static class BenchTrainCommand
{
    public static Command Create()
    {
        var models = new Option<string?>("--model") { Description = "Comma-separated models: built-in names or forward .onnx files with a fixed-size input [N, ...] (images, features, sequences, or int64 token ids read by an embedding) (default: cpu mlp,cnn; cuda resnet32,cnn,mlp)." };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        var batch = new Option<int>("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 128 };
        var warmup = new Option<int>("--warmup") { Description = "Warm-up steps.", DefaultValueFactory = _ => 20 };
        var steps = new Option<int>("--steps") { Description = "Steps per timed window.", DefaultValueFactory = _ => 50 };
        var windows = new Option<int>("--windows") { Description = "Timed windows (median, min, max reported).", DefaultValueFactory = _ => 5 };
        var check = new Option<int>("--check-steps") { Description = "Steps compared: CUDA against the CPU step; on the CPU, the trajectory against one with the parameters moved by one ulp (0: skip).", DefaultValueFactory = _ => 5 };
        var noEpoch = new Option<bool>("--no-epoch") { Description = "Skip the one-epoch Trainer measurement." };
        var torch = new Option<string?>("--torch") { Description = "Path of tools/torch_reference.py: runs the PyTorch reference in the same run." };
        var python = new Option<string>("--python") { Description = "Python interpreter for --torch.", DefaultValueFactory = _ => "python3" };
        var threads = new Option<int>("--threads") { Description = "CPU intra-op threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var cudaGraph = new Option<bool>("--cuda-graph") { Description = "CUDA only: also check and time the step captured as a CUDA graph (StepRunnerOptions.CudaGraph), beside the plain step in the same run." };
        var cmd = new Command("train", "Training throughput and epoch time per model (CPU or CUDA), CUDA-vs-CPU loss check, ACWA epoch-end overhead, PyTorch side by side.")
        {
            models, device, batch, warmup, steps, windows, check, noEpoch, torch, python, threads, cudaGraph,
        };
        cmd.SetAction(pr => Run(new BenchTrainOptions
        {
            Models = pr.GetValue(models)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            Device = pr.GetValue(device)!, Batch = pr.GetValue(batch), Warmup = pr.GetValue(warmup), Steps = pr.GetValue(steps),
            Windows = pr.GetValue(windows), CheckSteps = pr.GetValue(check), Epoch = !pr.GetValue(noEpoch), TorchScript = pr.GetValue(torch),
            Python = pr.GetValue(python)!, Threads = pr.GetValue(threads), CudaGraph = pr.GetValue(cudaGraph),
        }, pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error));
        return cmd;
    }

    public static int Run(BenchTrainOptions o, TextWriter output, TextWriter error)
    {
        if (o.Batch < 1 || o.Steps < 1 || o.Windows < 1 || o.Warmup < 0) return ConsoleOutput.Fail(error, "need --batch, --steps, --windows >= 1 and --warmup >= 0");
        Device device;
        try { device = Device.Parse(o.Device); }
        catch (FormatException e) { return ConsoleOutput.Fail(error, e.Message); }
        if (o.CudaGraph && !device.IsCuda) return ConsoleOutput.Fail(error, $"--cuda-graph needs a CUDA device (--device cuda), not '{device}'");
        var models = o.Models ?? (device.IsCuda ? ["resnet32", "cnn", "mlp"] : ["mlp", "cnn"]);
        var console = ConsoleOutput.For(output);
        console.WriteLine($"acwa bench train: device {device}, batch {o.Batch}, Adam, fp32, ORT {OrtEnv.Instance().GetVersionString()}, {Environment.ProcessorCount} cores");
        int failures = 0;
        var torch = new List<JsonObject>();
        var throughput = new List<(string Model, string Label, double[] Rates)>();
        var epochs = new List<(string Model, EpochTimings T, string Data)>();

        foreach (var m in models)
        {
            try
            {
                var bench = BenchModel.Load(m);
                if (device.IsCuda && o.CheckSteps > 0 && !CheckAgainstCpu(bench, device, o, console)) failures++;
                if (!device.IsCuda && o.CheckSteps > 0) CpuSensitivity(bench, o, console);
                throughput.Add((m, m, Throughput(bench, device, o, console, graph: false)));
                if (o.CudaGraph) throughput.Add((m, m + " (CUDA graph)", Throughput(bench, device, o, console, graph: true)));
                if (o.Epoch && m is "mlp" or "cnn") epochs.Add(EpochTime(bench, device, o, console)); // Fashion-MNIST-shaped models
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failures++;
                console.WriteLine($"{m}: FAILED: {e.GetType().Name}: {e.Message}");
            }
        }
        if (o.TorchScript is not null) torch = RunTorch(o, device, models.Where(m => ModelCatalog.BuiltinNames.Contains(m)).ToList(), console);

        var t = new Table().Title("training throughput (images or samples per second, median of windows)").AddColumns("model", "acwa median", "min-max", "PyTorch median", "acwa / PyTorch");
        foreach (var (m, label, rates) in throughput)
        {
            var pt = torch.FirstOrDefault(j => (string?)j["model"] == m && j["images_per_s_median"] is not null);
            double? ptRate = pt?["images_per_s_median"]?.GetValue<double>();
            t.AddRow(label, F0(BenchMetricsCommand.Median(rates)), $"{F0(rates.Min())}-{F0(rates.Max())}", ptRate is { } p ? F0(p) : "-",
                ptRate is { } q ? (BenchMetricsCommand.Median(rates) / q).ToString("F2", CultureInfo.InvariantCulture) : "-");
        }
        console.Write(t);
        if (epochs.Count > 0)
        {
            var e = new Table().Title("one epoch through the Trainer (ACWA policy)").AddColumns("model", "data", "train s", "validation forward s", "ACWA metrics+update ms", "ACWA share of epoch", "PyTorch epoch s (train)");
            foreach (var (m, tm, data) in epochs)
            {
                var pt = torch.FirstOrDefault(j => (string?)j["model"] == m && j["epoch_s_median"] is not null);
                e.AddRow(m, data, tm.Train.ToString("F2", CultureInfo.InvariantCulture), tm.ValidationForward.ToString("F3", CultureInfo.InvariantCulture),
                    (tm.AcwaOverhead * 1000).ToString("F3", CultureInfo.InvariantCulture), tm.AcwaOverheadFraction.ToString("P3", CultureInfo.InvariantCulture),
                    pt is null ? "-" : $"{pt["epoch_s_median"]!.GetValue<double>():F2} (x{pt["epoch_s_median"]!.GetValue<double>() / tm.Train:F2} slower)");
            }
            console.Write(e);
        }
        return failures == 0 ? 0 : 1;
    }

    private static string F0(double v) => v.ToString("N0", CultureInfo.InvariantCulture);

    private static string Compile(BenchModel model, Device device, string tag)
    {
        var dir = Directory.CreateTempSubdirectory($"acwa-bench-train-{BenchStepCommand.ProfileTag(model.Name)}-{tag}-").FullName;
        TrainingArtifacts.Generate(model.Forward, new ArtifactOptions { Optimizer = OptimizerKind.Adam, Device = device }, dir);
        return dir;
    }

    /// <summary>
    /// Same initial state and batches on CPU and CUDA; compares the loss trajectories and the final parameters. The CUDA
    /// side runs with TF32 off (full fp32): ORT's CUDA provider otherwise computes fp32 convolutions and matrix products with
    /// TF32 on Ampere and newer GPUs. Two checks: the first step's loss (a forward pass from identical parameters) must agree
    /// to 1e-5; the whole trajectory must agree to 1e-3, or else stay within 10x of the CPU's own sensitivity, measured in
    /// the same call as the change a one-ulp perturbation of the parameters makes to the CPU trajectory
    /// (<see cref="LossTrajectory"/>): no fp32 implementation can be held closer than that. Returns false on a mismatch.
    /// </summary>
    private static bool CheckAgainstCpu(BenchModel model, Device device, BenchTrainOptions o, IAnsiConsole console)
    {
        var (xs, ys) = model.RandomBatches(o.Batch, o.CheckSteps, seed: 7);
        var (cpu, cpuUlp, cpuState) = CpuTrajectories(model, o, xs, ys);
        List<Acwa.Onnx.HostTensor> gpuState;
        float[] gpu;
        float[]? graph = null;
        var dir = Compile(model, device, "gpu");
        try
        {
            var options = new StepRunnerOptions { Device = device, IntraOpThreads = o.Threads > 0 ? o.Threads : null, CudaTf32 = false };
            gpu = LossTrajectory.Run(dir, options, xs, ys, o.Batch, perturbUlp: false, out gpuState);
            // The graphs are captured from each direction's second run and replayed after it: 8 or more steps show replays.
            if (o.CudaGraph) graph = LossTrajectory.Run(dir, options with { CudaGraph = true }, xs, ys, o.Batch, perturbUlp: false, out _);
        }
        finally { TryDelete(dir); }
        double sensitivity = LossTrajectory.MaxRelative(cpu, cpuUlp), maxParam = 0;
        foreach (var (a, b) in cpuState.Zip(gpuState))
            if (a.Data is not null)
                for (int i = 0; i < a.Data.Length; i++) maxParam = Math.Max(maxParam, Math.Abs(a.Data[i] - b.Data![i]));
        static string L(float[] v) => string.Join(" ", v.Select(x => x.ToString("F5", CultureInfo.InvariantCulture)));
        bool ok = true;
        foreach (var (what, losses) in graph is null ? [("CUDA", gpu)] : new[] { ("CUDA", gpu), ("CUDA graph", graph) })
        {
            double first = LossTrajectory.MaxRelative(cpu, losses, 1), maxRel = LossTrajectory.MaxRelative(cpu, losses);
            string verdict = first >= 1e-5 ? "MISMATCH (first step)"
                : maxRel < 1e-3 ? "OK"
                : maxRel < 10 * sensitivity ? "OK (within 10x the CPU's one-ulp sensitivity)"
                : "MISMATCH";
            ok &= !verdict.StartsWith("MISMATCH", StringComparison.Ordinal);
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{model.Name}: {what} (fp32, TF32 off) vs CPU over {o.CheckSteps} steps: losses cpu [{L(cpu)}] {what.ToLowerInvariant()} [{L(losses)}], first-step relative difference {first:E2}, max relative loss difference {maxRel:E2}, CPU one-ulp sensitivity {sensitivity:E2}{(losses == gpu ? string.Create(CultureInfo.InvariantCulture, $", max |state difference| {maxParam:E2}") : "")} ({verdict})"));
        }
        return ok;
    }

    /// <summary>
    /// CPU only: how far a one-ulp change of the parameters moves the loss trajectory (<see cref="LossTrajectory"/>), the
    /// noise floor against which any other implementation (CUDA, another thread count, another ORT) can be compared.
    /// </summary>
    private static void CpuSensitivity(BenchModel model, BenchTrainOptions o, IAnsiConsole console)
    {
        var (xs, ys) = model.RandomBatches(o.Batch, o.CheckSteps, seed: 7);
        var (a, b, _) = CpuTrajectories(model, o, xs, ys);
        string rel = string.Join(" ", LossTrajectory.RelativePerStep(a, b).Select(r => r.ToString("E1", CultureInfo.InvariantCulture)));
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{model.Name}: CPU one-ulp sensitivity over {o.CheckSteps} Adam steps: losses [{string.Join(" ", a.Select(v => v.ToString("F5", CultureInfo.InvariantCulture)))}], relative change per step [{rel}], max {LossTrajectory.MaxRelative(a, b):E2}"));
    }

    /// <summary>The CPU loss trajectory on the given batches, the same from a one-ulp-perturbed start, and the final CPU state (one compile).</summary>
    private static (float[] Losses, float[] Perturbed, List<Acwa.Onnx.HostTensor> State) CpuTrajectories(BenchModel model, BenchTrainOptions o, Array[] xs, long[][] ys)
    {
        var dir = Compile(model, Device.Cpu, "cpu");
        try
        {
            var options = new StepRunnerOptions { IntraOpThreads = o.Threads > 0 ? o.Threads : null };
            var losses = LossTrajectory.Run(dir, options, xs, ys, o.Batch, perturbUlp: false, out var state);
            var perturbed = LossTrajectory.Run(dir, options, xs, ys, o.Batch, perturbUlp: true, out _);
            return (losses, perturbed, state);
        }
        finally { TryDelete(dir); }
    }

    private static double[] Throughput(BenchModel model, Device device, BenchTrainOptions o, IAnsiConsole console, bool graph)
    {
        var dir = Compile(model, device, "tp");
        try
        {
            var (xs, ys) = model.RandomBatches(o.Batch, 8, seed: 7);
            using var r = new StepRunner(dir, new StepRunnerOptions { Device = device, IntraOpThreads = o.Threads > 0 ? o.Threads : null, CudaGraph = graph });
            for (int i = 0; i < o.Warmup; i++) BenchModel.TrainStep(r, xs[i % 8], ys[i % 8], o.Batch);
            var rates = new double[o.Windows];
            for (int w = 0; w < o.Windows; w++)
            {
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < o.Steps; i++) BenchModel.TrainStep(r, xs[i % 8], ys[i % 8], o.Batch);
                rates[w] = o.Steps * (double)o.Batch / sw.Elapsed.TotalSeconds;
            }
            string unit = model.Sample.Length == 3 && model.Vocabulary is null ? "images/s" : "samples/s";
            console.WriteLine($"{model.Name}{(graph ? " (CUDA graph)" : "")}: {F0(BenchMetricsCommand.Median(rates))} {unit} (windows {string.Join(", ", rates.Select(F0))})");
            return rates;
        }
        finally { TryDelete(dir); }
    }

    /// <summary>One epoch through the Trainer with paper ACWA: step-imbalanced Fashion-MNIST (29,700 train / 3,300 validation) when installed, else synthetic data of that size.</summary>
    private static (string, EpochTimings, string) EpochTime(BenchModel model, Device device, BenchTrainOptions o, IAnsiConsole console)
    {
        ImageDataset train, val;
        string data;
        if (FashionMnist.IsAvailable())
        {
            var pair = DatasetSpec.Parse("fashion-mnist").Load();
            (train, val) = StratifiedSplit.Split(ImbalanceProtocol.PaperStep.Apply(pair.Train, 0), 0.1, 0);
            data = "Fashion-MNIST step";
        }
        else
        {
            (train, val) = StratifiedSplit.Split(ImbalanceProtocol.PaperStep.Apply(Synthetic(60_000), 0), 0.1, 0);
            data = "synthetic 1x28x28, step";
        }
        var dir = Compile(model, device, "epoch");
        try
        {
            // With --cuda-graph the epoch's steps are captured too (the last, smaller batch runs uncaptured).
            using var r = new StepRunner(dir, new StepRunnerOptions { Device = device, IntraOpThreads = o.Threads > 0 ? o.Threads : null, CudaGraph = o.CudaGraph });
            if (o.CudaGraph) data += ", CUDA graph";
            var counts = train.ClassCounts().Select(c => (long)c).ToArray();
            var trainer = new Trainer(r, train, val, PolicyFactory.Create("acwa", counts, 2), new TrainerOptions { Epochs = 2, BatchSize = o.Batch, Normalization = Normalization.FashionMnist });
            var result = trainer.Run();
            var t = result.Epochs[^1].Timings; // the second epoch: warm
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{model.Name}: epoch of {train.Count} images ({data}): train {t.Train:F2} s, validation forward {t.ValidationForward:F3} s, ACWA metrics + update {t.AcwaOverhead * 1000:F3} ms = {t.AcwaOverheadFraction:P3} of the epoch"));
            return (model.Name, t, data);
        }
        finally { TryDelete(dir); }
    }

    private static ImageDataset Synthetic(int n)
    {
        var rng = new Random(3);
        var px = new byte[n * 784];
        rng.NextBytes(px);
        var y = new int[n];
        for (int i = 0; i < n; i++) y[i] = i % 10;
        return new ImageDataset(px, y, 1, 28, 28, Enumerable.Range(0, 10).Select(i => $"class{i}").ToArray(), "synthetic");
    }

    private static List<JsonObject> RunTorch(BenchTrainOptions o, Device device, IReadOnlyList<string> models, IAnsiConsole console) =>
        TorchReference.Run(o.Python, o.TorchScript!, device.IsCuda
            ? $"gpu-throughput --models {string.Join(",", models)} --batch {o.Batch} --steps {o.Steps} --windows {o.Windows} --warmup {Math.Max(o.Warmup, 10)}"
            : $"cpu-epoch --models {string.Join(",", models.Where(m => m is "mlp" or "cnn"))} --repeats 1", console);

    private static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }
}
