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

/// <summary>Options of <c>acwa bench train</c>.</summary>
internal sealed record BenchTrainOptions
{
    /// <summary>Built-in names or forward .onnx files; null: cpu mlp, cnn; cuda resnet32, cnn, mlp.</summary>
    public IReadOnlyList<string>? Models { get; init; }

    public Device Device { get; init; } = Device.Cpu;

    public int Batch { get; init; } = 128;

    /// <summary>Untimed steps before the first window.</summary>
    public int Warmup { get; init; } = 20;

    /// <summary>Steps per timed window.</summary>
    public int Steps { get; init; } = 50;

    /// <summary>Timed windows (median, min and max reported).</summary>
    public int Windows { get; init; } = 5;

    /// <summary>Also time one epoch through the Trainer with ACWA (mlp and cnn).</summary>
    public bool Epoch { get; init; } = true;

    /// <summary>CPU intra-op threads (0: all cores).</summary>
    public int Threads { get; init; }

    /// <summary>CUDA only: also time the step captured as a CUDA graph, beside the plain step.</summary>
    public bool CudaGraph { get; init; }

    /// <summary>When set, the results are also written there as JSON (<see cref="BenchJson"/>).</summary>
    public string? JsonPath { get; init; }

    /// <summary>The models measured: <see cref="Models"/>, or the device's defaults.</summary>
    public IReadOnlyList<string> ModelsOrDefault => Models ?? (Device.IsCuda ? ["resnet32", "cnn", "mlp"] : ["mlp", "cnn"]);

    /// <summary>Intra-op threads for the runners (null: ORT's default, one per core).</summary>
    internal int? IntraOpThreads => Threads > 0 ? Threads : null;
}

/// <summary>Training throughput of one model: samples (or images) per second per window, batches uploaded from the host every step.</summary>
/// <param name="Model">The model as named on the command line.</param>
/// <param name="CudaGraph">Steps captured as CUDA graphs.</param>
/// <param name="Unit">images/s for image models, samples/s for features, sequences and token ids.</param>
/// <param name="PerSecond">Samples per second, one value per window.</param>
internal sealed record BenchTrainThroughput(string Model, bool CudaGraph, string Unit, Measured PerSecond);

/// <summary>One warm epoch through the Trainer with paper ACWA (the second of two).</summary>
/// <param name="Model">The model.</param>
/// <param name="Data">The data the epoch ran on.</param>
/// <param name="TrainSamples">Samples in the epoch's training set.</param>
/// <param name="EpochS">Seconds of the whole epoch (training, validation, metrics, policy).</param>
/// <param name="TrainS">Seconds of the training steps.</param>
/// <param name="ValidationForwardS">Seconds of the validation forward passes.</param>
/// <param name="AcwaOverheadMs">Milliseconds of ACWA's epoch end (validation metrics and weight update).</param>
/// <param name="AcwaShare">That overhead as a fraction of the epoch.</param>
internal sealed record BenchTrainEpoch(string Model, string Data, int TrainSamples, double EpochS, double TrainS, double ValidationForwardS, double AcwaOverheadMs, double AcwaShare);

/// <summary>A model that could not be measured, with the error.</summary>
internal sealed record BenchTrainFailure(string Model, string Error);

/// <summary>The results of one <c>bench train</c> run.</summary>
internal sealed record BenchTrainReport(IReadOnlyList<BenchTrainThroughput> Throughput, IReadOnlyList<BenchTrainEpoch> Epochs, IReadOnlyList<BenchTrainFailure> Failures);

/// <summary>
/// What a developer tool (tools/Acwa.DevBench) adds to <c>bench train</c>: a check of each model before its timing (e.g.
/// CUDA against CPU), and reports after the tables. The shipped command runs with <see cref="None"/>.
/// </summary>
internal class BenchTrainHooks
{
    public static readonly BenchTrainHooks None = new();

    /// <summary>The command as the user typed it, for the first line and the JSON document's <c>command</c>.</summary>
    public virtual string Command => "acwa bench train";

    /// <summary>An error when the options cannot run as asked, else null.</summary>
    public virtual string? Refuse(BenchTrainOptions options) => null;

    /// <summary>Runs before the model's throughput; false counts the model as failed (exit code 1), its timings still run.</summary>
    public virtual bool BeforeModel(BenchModel model, BenchTrainOptions options, IAnsiConsole console) => true;

    /// <summary>After the tables: further reports, and what they add to the JSON document.</summary>
    public virtual void Finish(BenchTrainOptions options, BenchTrainReport report, IAnsiConsole console, JsonObject json) { }
}

/// <summary>
/// <c>acwa bench train</c>, in one process: (1) times training throughput (images or samples per second, median of several
/// windows after warm-up, batches uploaded from the host every step as in real training) per model; (2) times one epoch
/// through the Trainer with ACWA in the loop (step-imbalanced Fashion-MNIST on CPU when installed, a synthetic dataset of
/// the same size otherwise) and reports the ACWA epoch end (validation metrics + weight update) relative to the epoch.
/// </summary>
internal static class BenchTrainCommand
{
    /// <summary>The command-line options of <c>bench train</c>, shared with the developer tool's <c>train</c>, which adds its own.</summary>
    internal sealed class Arguments
    {
        private readonly Option<string?> _models = new("--model") { Description = "Comma-separated models: built-in names or forward .onnx files with a fixed-size input [N, ...] (images, features, sequences, or int64 token ids read by an embedding) (default: cpu mlp,cnn; cuda resnet32,cnn,mlp)." };
        private readonly Option<string> _device = new("--device") { Description = "cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        private readonly Option<int> _batch = new("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 128 };
        private readonly Option<int> _warmup = new("--warmup") { Description = "Warm-up steps.", DefaultValueFactory = _ => 20 };
        private readonly Option<int> _steps = new("--steps") { Description = "Steps per timed window.", DefaultValueFactory = _ => 50 };
        private readonly Option<int> _windows = new("--windows") { Description = "Timed windows (median, min, max reported).", DefaultValueFactory = _ => 5 };
        private readonly Option<bool> _noEpoch = new("--no-epoch") { Description = "Skip the one-epoch Trainer measurement." };
        private readonly Option<int> _threads = new("--threads") { Description = "CPU intra-op threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        private readonly Option<bool> _cudaGraph = new("--cuda-graph") { Description = "CUDA only: also time the step captured as a CUDA graph (StepRunnerOptions.CudaGraph), beside the plain step in the same run." };
        private readonly Option<string?> _json = BenchCommand.JsonOption();

        /// <summary>Adds the options to <paramref name="command"/>.</summary>
        public void AddTo(Command command)
        {
            foreach (var o in new Option[] { _models, _device, _batch, _warmup, _steps, _windows, _noEpoch, _threads, _cudaGraph, _json })
                command.Options.Add(o);
        }

        /// <summary>The options record of a parse; <see cref="FormatException"/> for a value that does not parse (names it).</summary>
        public BenchTrainOptions Read(ParseResult pr) => new()
        {
            Models = pr.GetValue(_models) is { } m ? BenchCommand.SplitModels(m) : null, Device = Device.Parse(pr.GetValue(_device)!),
            Batch = pr.GetValue(_batch), Warmup = pr.GetValue(_warmup), Steps = pr.GetValue(_steps), Windows = pr.GetValue(_windows),
            Epoch = !pr.GetValue(_noEpoch), Threads = pr.GetValue(_threads), CudaGraph = pr.GetValue(_cudaGraph), JsonPath = pr.GetValue(_json),
        };
    }

    public static Command Create()
    {
        var arguments = new Arguments();
        var cmd = new Command("train", "Training throughput and epoch time per model (CPU or CUDA), ACWA epoch-end overhead.");
        arguments.AddTo(cmd);
        cmd.SetAction(pr => Run(arguments, pr, BenchTrainHooks.None));
        return cmd;
    }

    /// <summary>Reads the options of <paramref name="pr"/> and runs; a value that does not parse is an error (exit code 2).</summary>
    internal static int Run(Arguments arguments, ParseResult pr, BenchTrainHooks hooks)
    {
        BenchTrainOptions o;
        try { o = arguments.Read(pr); }
        catch (FormatException e) { return ConsoleOutput.Fail(pr.InvocationConfiguration.Error, e.Message); }
        return Run(o, pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error, hooks);
    }

    public static int Run(BenchTrainOptions o, TextWriter output, TextWriter error, BenchTrainHooks? hooks = null)
    {
        hooks ??= BenchTrainHooks.None;
        if (o.Batch < 1 || o.Steps < 1 || o.Windows < 1 || o.Warmup < 0) return ConsoleOutput.Fail(error, "need --batch, --steps, --windows >= 1 and --warmup >= 0");
        var device = o.Device;
        if (o.CudaGraph && !device.IsCuda) return ConsoleOutput.Fail(error, $"--cuda-graph needs a CUDA device (--device cuda), not '{device}'");
        if (hooks.Refuse(o) is { } refused) return ConsoleOutput.Fail(error, refused);
        if (BenchJson.CheckPath(o.JsonPath) is { } bad) return ConsoleOutput.Fail(error, bad);
        var console = ConsoleOutput.For(output);
        console.WriteLine($"{hooks.Command}: device {device}, batch {o.Batch}, Adam, fp32, ORT {OrtEnv.Instance().GetVersionString()}, {Environment.ProcessorCount} cores");
        var throughput = new List<BenchTrainThroughput>();
        var epochs = new List<BenchTrainEpoch>();
        var failures = new List<BenchTrainFailure>();

        foreach (var m in o.ModelsOrDefault)
        {
            try
            {
                var bench = BenchModel.Load(m);
                if (!hooks.BeforeModel(bench, o, console)) failures.Add(new BenchTrainFailure(m, "the check before its timing failed"));
                throughput.Add(Throughput(bench, o, console, graph: false));
                if (o.CudaGraph) throughput.Add(Throughput(bench, o, console, graph: true));
                if (o.Epoch && m is "mlp" or "cnn") epochs.Add(EpochTime(bench, o, console)); // Fashion-MNIST-shaped models
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failures.Add(new BenchTrainFailure(m, $"{e.GetType().Name}: {e.Message}"));
                console.WriteLine($"{m}: FAILED: {e.GetType().Name}: {e.Message}");
            }
        }

        var t = new Table().AddColumns("model", "unit", "median", "min-max");
        foreach (var r in throughput)
            t.AddRow(Markup.Escape(r.Model + (r.CudaGraph ? " (CUDA graph)" : "")), r.Unit, F0(r.PerSecond.Median), $"{F0(r.PerSecond.Min)}-{F0(r.PerSecond.Max)}");
        console.WriteTable("training throughput (images or samples per second, median of windows)", t);
        if (epochs.Count > 0)
        {
            var e = new Table().AddColumns("model", "data", "train s", "validation forward s", "ACWA metrics+update ms", "ACWA share of epoch");
            foreach (var r in epochs)
                e.AddRow(Markup.Escape(r.Model), Markup.Escape(r.Data), r.TrainS.ToString("F2", CultureInfo.InvariantCulture), r.ValidationForwardS.ToString("F3", CultureInfo.InvariantCulture),
                    r.AcwaOverheadMs.ToString("F3", CultureInfo.InvariantCulture), r.AcwaShare.ToString("P3", CultureInfo.InvariantCulture));
            console.WriteTable("one epoch through the Trainer (ACWA policy)", e);
        }
        var report = new BenchTrainReport(throughput, epochs, failures);
        var json = BenchJson.Header(hooks.Command);
        json["device"] = device.ToString();
        json["options"] = BenchJson.Node(new { Models = o.ModelsOrDefault, o.Batch, o.Warmup, o.Steps, o.Windows, o.Epoch, o.Threads, o.CudaGraph });
        json["throughput"] = BenchJson.Node(throughput);
        json["epochs"] = BenchJson.Node(epochs);
        json["failures"] = BenchJson.Node(failures);
        hooks.Finish(o, report, console, json);
        if (o.JsonPath is not null)
        {
            try { BenchJson.Write(o.JsonPath, json); }
            catch (IOException ex) { return ConsoleOutput.Fail(error, ex.Message); }
            console.WriteLine($"results written to {o.JsonPath}");
        }
        return failures.Count == 0 ? 0 : 1;
    }

    internal static string F0(double v) => v.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Training artifacts of <paramref name="model"/> (Adam) for <paramref name="device"/> in a new temp folder (the caller deletes it).</summary>
    internal static string Compile(BenchModel model, Device device, string tag)
    {
        var dir = Directory.CreateTempSubdirectory($"acwa-bench-train-{BenchStepCommand.ProfileTag(model.Name)}-{tag}-").FullName;
        TrainingArtifacts.Generate(model.Forward, new ArtifactOptions { Optimizer = OptimizerKind.Adam, Device = device }, dir);
        return dir;
    }

    private static BenchTrainThroughput Throughput(BenchModel model, BenchTrainOptions o, IAnsiConsole console, bool graph)
    {
        var dir = Compile(model, o.Device, "tp");
        try
        {
            var (xs, ys) = model.RandomBatches(o.Batch, 8, seed: 7);
            using var r = new StepRunner(dir, new StepRunnerOptions { Device = o.Device, IntraOpThreads = o.IntraOpThreads, CudaGraph = graph });
            for (int i = 0; i < o.Warmup; i++) BenchModel.TrainStep(r, xs[i % 8], ys[i % 8], o.Batch);
            var rates = new double[o.Windows];
            for (int w = 0; w < o.Windows; w++)
            {
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < o.Steps; i++) BenchModel.TrainStep(r, xs[i % 8], ys[i % 8], o.Batch);
                rates[w] = o.Steps * (double)o.Batch / sw.Elapsed.TotalSeconds;
            }
            string unit = model.Sample.Length == 3 && model.Vocabulary is null ? "images/s" : "samples/s";
            var row = new BenchTrainThroughput(model.Name, graph, unit, Measured.Of(rates));
            console.WriteLine($"{model.Name}{(graph ? " (CUDA graph)" : "")}: {F0(row.PerSecond.Median)} {unit} (windows {string.Join(", ", rates.Select(F0))})");
            return row;
        }
        finally { TryDelete(dir); }
    }

    /// <summary>One epoch through the Trainer with paper ACWA: step-imbalanced Fashion-MNIST (29,700 train / 3,300 validation) when installed, else synthetic data of that size.</summary>
    private static BenchTrainEpoch EpochTime(BenchModel model, BenchTrainOptions o, IAnsiConsole console)
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
        var dir = Compile(model, o.Device, "epoch");
        try
        {
            // With --cuda-graph the epoch's steps are captured too (the last, smaller batch runs uncaptured).
            using var r = new StepRunner(dir, new StepRunnerOptions { Device = o.Device, IntraOpThreads = o.IntraOpThreads, CudaGraph = o.CudaGraph });
            if (o.CudaGraph) data += ", CUDA graph";
            var counts = train.ClassCounts().Select(c => (long)c).ToArray();
            var trainer = new Trainer(r, train, val, PolicyFactory.Create("acwa", counts, 2), new TrainerOptions { Epochs = 2, BatchSize = o.Batch, Normalization = Normalization.FashionMnist });
            var result = trainer.Run();
            var t = result.Epochs[^1].Timings; // the second epoch: warm
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{model.Name}: epoch of {train.Count} images ({data}): train {t.Train:F2} s, validation forward {t.ValidationForward:F3} s, ACWA metrics + update {t.AcwaOverhead * 1000:F3} ms = {t.AcwaOverheadFraction:P3} of the epoch"));
            return new BenchTrainEpoch(model.Name, data, train.Count, t.Total, t.Train, t.ValidationForward, t.AcwaOverhead * 1000, t.AcwaOverheadFraction);
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

    internal static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }
}
