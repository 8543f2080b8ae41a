using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Acwa.Onnx.Metrics;
using Microsoft.ML.OnnxRuntime;
using Spectre.Console;

namespace Acwa.Cli.Commands;

/// <summary>Options of <c>acwa bench metrics</c>.</summary>
internal sealed record BenchMetricsOptions
{
    /// <summary>Samples N.</summary>
    public int N { get; init; } = 10_000_000;

    /// <summary>Classes C.</summary>
    public int Classes { get; init; } = 10;

    /// <summary>Timed repeats of every operation (interleaved).</summary>
    public int Repeats { get; init; } = 7;

    /// <summary>Threads of the multi-threaded operations (0: one per core).</summary>
    public int Threads { get; init; }

    /// <summary>When set, the results are also written there as JSON (<see cref="BenchJson"/>).</summary>
    public string? JsonPath { get; init; }
}

/// <summary>One measured operation over the repeats.</summary>
/// <param name="Name">What was measured.</param>
/// <param name="Samples">Samples per run (N).</param>
/// <param name="Ms">Wall-clock milliseconds per run.</param>
/// <param name="CpuMs">Process CPU milliseconds per run: on a shared, oversubscribed machine it leaves out the time the
/// thread waited for a core, so for single-thread rows it is the steadier figure.</param>
internal sealed record BenchMetricsRow(string Name, int Samples, Measured Ms, Measured CpuMs)
{
    /// <summary>Samples per second at the median time.</summary>
    public double SamplesPerSecond => Samples / (Ms.Median / 1000);
}

/// <summary>The results of one run: the operations, and the per-repeat ratio of the single-thread logits kernel to the Sum reference.</summary>
/// <param name="KernelPath">The SIMD path the kernels took.</param>
/// <param name="Operations">Every operation, the Sum reference first.</param>
/// <param name="LogitsOverSum">Time of the single-thread logits kernel over the Sum's time in the same repeat, per repeat.</param>
/// <param name="LogitsOverSumCpu">The same ratio by process CPU time.</param>
internal sealed record BenchMetricsReport(string KernelPath, IReadOnlyList<BenchMetricsRow> Operations, Measured LogitsOverSum, Measured LogitsOverSumCpu)
{
    /// <summary>The single-thread confusion matrix from int predictions (samples per second).</summary>
    public BenchMetricsRow PredictionsOneThread => Operations[3];
}

/// <summary>
/// <c>acwa bench metrics</c>: confusion matrix from N x C fp32 logits and from int predictions, single- and
/// multi-threaded, against TensorPrimitives.Sum over the same logits buffer (a memory-bandwidth reference measured
/// in the same repeat, so noise hits both). Reports medians and min/max of the repeats after a warm-up.
/// </summary>
internal static class BenchMetricsCommand
{
    public static Command Create()
    {
        var n = new Option<int>("--n") { Description = "Samples N.", DefaultValueFactory = _ => 10_000_000 };
        var classes = new Option<int>("--classes") { Description = "Classes C.", DefaultValueFactory = _ => 10 };
        var repeats = new Option<int>("--repeats") { Description = "Timed repeats (median and min/max reported).", DefaultValueFactory = _ => 7 };
        var threads = new Option<int>("--threads") { Description = "Threads for the multi-threaded figures (0 = all cores).", DefaultValueFactory = _ => 0 };
        var json = BenchCommand.JsonOption();
        var cmd = new Command("metrics", "Benchmark confusion-matrix kernels (logits argmax and prediction counting) against a memory-bandwidth reference.")
        {
            n, classes, repeats, threads, json,
        };
        cmd.SetAction(pr => Run(new BenchMetricsOptions
        {
            N = pr.GetValue(n), Classes = pr.GetValue(classes), Repeats = pr.GetValue(repeats), Threads = pr.GetValue(threads), JsonPath = pr.GetValue(json),
        }, pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error));
        return cmd;
    }

    public static int Run(BenchMetricsOptions o, TextWriter output, TextWriter error)
    {
        if (o.N < 1 || o.Classes < 1 || o.Classes > ConfusionMatrix.MaxClasses || o.Repeats < 1 || o.Threads < 0)
            return ConsoleOutput.Fail(error, $"need --n >= 1, --classes in [1, {ConfusionMatrix.MaxClasses}], --repeats >= 1, --threads >= 0");
        if ((long)o.N * o.Classes > Array.MaxLength)
            return ConsoleOutput.Fail(error, $"N x C = {(long)o.N * o.Classes} logits do not fit in one array");
        if (BenchJson.CheckPath(o.JsonPath) is { } bad) return ConsoleOutput.Fail(error, bad);
        var console = ConsoleOutput.For(output);
        var report = Measure(o, console);
        Print(o, report, console);
        if (o.JsonPath is null) return 0;
        var doc = BenchJson.Header("acwa bench metrics");
        doc["options"] = BenchJson.Node(new { o.N, o.Classes, o.Repeats, threads = o.Threads == 0 ? Environment.ProcessorCount : o.Threads });
        doc["kernel_path"] = report.KernelPath;
        doc["operations"] = BenchJson.Node(report.Operations.Select(r => new { r.Name, r.Samples, r.Ms, r.CpuMs, r.SamplesPerSecond }));
        doc["logits_over_sum"] = BenchJson.Node(report.LogitsOverSum);
        doc["logits_over_sum_cpu"] = BenchJson.Node(report.LogitsOverSumCpu);
        try { BenchJson.Write(o.JsonPath, doc); }
        catch (IOException e) { return ConsoleOutput.Fail(error, e.Message); }
        console.WriteLine($"results written to {o.JsonPath}");
        return 0;
    }

    internal static BenchMetricsReport Measure(BenchMetricsOptions o, IAnsiConsole console)
    {
        int n = o.N, C = o.Classes, threads = o.Threads == 0 ? Environment.ProcessorCount : o.Threads;
        console.WriteLine($"preparing {n:N0} x {C} fp32 logits ({(long)n * C * 4 / 1e6:F0} MB), labels and predictions...");
        var logits = new float[(long)n * C];
        var labels = new int[n];
        var preds = new int[n];
        var rng = new Random(12345);
        for (int i = 0; i < n; i++)
        {
            labels[i] = rng.Next(C);
            preds[i] = rng.Next(4) == 0 ? rng.Next(C) : labels[i]; // 75% right: mostly diagonal, like a real model
        }
        for (long i = 0; i < logits.Length; i++) logits[i] = (float)rng.NextDouble();
        // The same logits in the 16-bit formats models export (fp16 rounded, bf16 truncated).
        var half = new Half[logits.Length];
        var bf16 = new BFloat16[logits.Length];
        for (long i = 0; i < logits.Length; i++)
        {
            half[i] = (Half)logits[i];
            bf16[i] = new BFloat16((ushort)(BitConverter.SingleToUInt32Bits(logits[i]) >> 16));
        }

        float sink = 0;
        var ops = new (string Name, Action Run)[]
        {
            ("TensorPrimitives.Sum (logits buffer)", () => sink += TensorPrimitives.Sum<float>(logits)),
            ("confusion from logits, 1 thread", () => new ConfusionMatrix(C).AccumulateLogits(labels, logits)),
            ($"confusion from logits, {threads} threads", () => ConfusionMatrix.ComputeParallelFromLogits(labels, logits, C, NanPolicy.Throw, threads)),
            ("confusion from int predictions, 1 thread", () => new ConfusionMatrix(C).Accumulate(labels, preds)),
            ($"confusion from int predictions, {threads} threads", () => ConfusionMatrix.ComputeParallel(labels, preds, C, threads)),
            ("confusion from fp16 logits, 1 thread", () => new ConfusionMatrix(C).AccumulateLogits(labels, half)),
            ("confusion from bf16 logits, 1 thread", () => new ConfusionMatrix(C).AccumulateLogits(labels, bf16)),
        };
        // Warm-up: tier the JIT up (small calls first, then one full call each).
        for (int w = 0; w < 40; w++)
        {
            int k = Math.Min(n, 4096);
            new ConfusionMatrix(C).AccumulateLogits(labels.AsSpan(0, k), logits.AsSpan(0, k * C));
            new ConfusionMatrix(C).Accumulate(labels.AsSpan(0, k), preds.AsSpan(0, k));
            sink += TensorPrimitives.Sum<float>(logits.AsSpan(0, k * C));
        }
        foreach (var op in ops) op.Run();

        var times = ops.Select(_ => new double[o.Repeats]).ToArray();
        var cpu = ops.Select(_ => new double[o.Repeats]).ToArray();
        using var process = Process.GetCurrentProcess();
        for (int r = 0; r < o.Repeats; r++)
        {
            for (int k = 0; k < ops.Length; k++) // interleaved, so machine noise hits every operation alike
            {
                process.Refresh();
                var cpu0 = process.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                ops[k].Run();
                times[k][r] = sw.Elapsed.TotalMilliseconds;
                process.Refresh();
                cpu[k][r] = (process.TotalProcessorTime - cpu0).TotalMilliseconds;
            }
        }
        GC.KeepAlive(sink);
        var rows = ops.Select((op, k) => new BenchMetricsRow(op.Name, n, Measured.Of(times[k]), Measured.Of(cpu[k]))).ToList();
        // Per-repeat ratio logits / Sum (same repeat, same noise).
        return new BenchMetricsReport(KernelDispatch.Best.ToString(), rows,
            Measured.Of(times[1].Zip(times[0], (a, b) => a / b).ToArray()),
            Measured.Of(cpu[1].Zip(cpu[0], (a, b) => a / Math.Max(b, 1e-3)).ToArray()));
    }

    private static void Print(BenchMetricsOptions o, BenchMetricsReport report, IAnsiConsole console)
    {
        static string F(double v, string fmt = "F2") => v.ToString(fmt, CultureInfo.InvariantCulture);
        console.WriteLine($"N = {o.N:N0}, C = {o.Classes}, repeats = {o.Repeats}, kernel path = {report.KernelPath}, " +
            $"cores = {Environment.ProcessorCount}, {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}");
        var t = new Table().AddColumns("operation", "median ms", "min ms", "max ms", "M samples/s (median)", "median CPU ms");
        foreach (var r in report.Operations)
            t.AddRow(Markup.Escape(r.Name), F(r.Ms.Median), F(r.Ms.Min), F(r.Ms.Max), F(r.SamplesPerSecond / 1e6, "F0"), F(r.CpuMs.Median));
        console.Write(t);
        var ratio = report.LogitsOverSum;
        console.WriteLine($"logits 1 thread / Sum: median {F(ratio.Median)}x (min {F(ratio.Min)}, max {F(ratio.Max)}); by CPU time: median {F(report.LogitsOverSumCpu.Median)}x");
        var preds = report.PredictionsOneThread;
        console.WriteLine($"int predictions 1 thread: {F(preds.SamplesPerSecond / 1e6, "F0")} M samples/s; by CPU time: {F(o.N / (preds.CpuMs.Median / 1000) / 1e6, "F0")} M samples/s");
    }
}
