using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Acwa.Onnx.Metrics;
using Microsoft.ML.OnnxRuntime;
using Spectre.Console;

namespace Acwa.Cli.Commands;

/// <summary>Plain options of <c>acwa bench metrics</c>.</summary>
internal sealed record BenchMetricsOptions(int N = 10_000_000, int Classes = 10, int Repeats = 7, int Threads = 0);

/// <summary>One measured operation: times in milliseconds over the repeats.</summary>
/// <param name="CpuMilliseconds">Process CPU time per repeat: on a shared, oversubscribed machine it leaves out the time the
/// thread waited for a core, so for single-thread rows it is the steadier figure.</param>
internal sealed record BenchMetricsRow(string Name, double[] Milliseconds, int Samples, double[] CpuMilliseconds)
{
    public double CpuMedian => BenchMetricsCommand.Median(CpuMilliseconds);
    public double Median => BenchMetricsCommand.Median(Milliseconds);
    public double Min => Milliseconds.Min();
    public double Max => Milliseconds.Max();
    public double SamplesPerSecond => Samples / (Median / 1000);
}

/// <summary>
/// <c>acwa bench metrics</c>: confusion matrix from N x C fp32 logits and from int predictions, single- and
/// multi-threaded, against TensorPrimitives.Sum over the same logits buffer (a memory-bandwidth reference measured
/// in the same repeat, so noise hits both). Reports medians and min/max of the repeats after a warm-up.
/// </summary>
internal static class BenchMetricsCommand
{
    /// <summary>Target: single-thread logits confusion matrix time / Sum time.</summary>
    public const double TargetLogitsOverSum = 1.3;

    /// <summary>Target: single-thread samples per second from int predictions.</summary>
    public const double TargetPredictionsPerSecond = 1.5e9;

    public static Command Create()
    {
        var n = new Option<int>("--n") { Description = "Samples N.", DefaultValueFactory = _ => 10_000_000 };
        var classes = new Option<int>("--classes") { Description = "Classes C.", DefaultValueFactory = _ => 10 };
        var repeats = new Option<int>("--repeats") { Description = "Timed repeats (median and min/max reported).", DefaultValueFactory = _ => 7 };
        var threads = new Option<int>("--threads") { Description = "Threads for the multi-threaded figures (0 = all cores).", DefaultValueFactory = _ => 0 };
        var cmd = new Command("metrics", "Benchmark confusion-matrix kernels (logits argmax and prediction counting) against a memory-bandwidth reference.")
        {
            n, classes, repeats, threads,
        };
        cmd.SetAction(pr => Run(new BenchMetricsOptions(pr.GetValue(n), pr.GetValue(classes), pr.GetValue(repeats), pr.GetValue(threads)),
            pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error));
        return cmd;
    }

    public static int Run(BenchMetricsOptions o, TextWriter output, TextWriter error)
    {
        if (o.N < 1 || o.Classes < 1 || o.Classes > ConfusionMatrix.MaxClasses || o.Repeats < 1 || o.Threads < 0)
            return ConsoleOutput.Fail(error, $"need --n >= 1, --classes in [1, {ConfusionMatrix.MaxClasses}], --repeats >= 1, --threads >= 0");
        if ((long)o.N * o.Classes > Array.MaxLength)
            return ConsoleOutput.Fail(error, $"N x C = {(long)o.N * o.Classes} logits do not fit in one array");
        var console = ConsoleOutput.For(output);
        var rows = Measure(o, console);
        Print(o, rows, console);
        return 0;
    }

    internal static IReadOnlyList<BenchMetricsRow> Measure(BenchMetricsOptions o, IAnsiConsole console)
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
        var rows = ops.Select((op, k) => new BenchMetricsRow(op.Name, times[k], n, cpu[k])).ToList();
        // Per-repeat ratio logits / Sum (same repeat, same noise), reported as its own row in units of "x".
        rows.Add(new BenchMetricsRow("ratio logits 1 thread / Sum", times[1].Zip(times[0], (a, b) => a / b).ToArray(), n,
            cpu[1].Zip(cpu[0], (a, b) => a / Math.Max(b, 1e-3)).ToArray()));
        return rows;
    }

    private static void Print(BenchMetricsOptions o, IReadOnlyList<BenchMetricsRow> rows, IAnsiConsole console)
    {
        static string F(double v, string fmt = "F2") => v.ToString(fmt, CultureInfo.InvariantCulture);
        console.WriteLine($"N = {o.N:N0}, C = {o.Classes}, repeats = {o.Repeats}, kernel path = {KernelDispatch.Best}, " +
            $"cores = {Environment.ProcessorCount}, {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}");
        var t = new Table().AddColumns("operation", "median ms", "min ms", "max ms", "M samples/s (median)", "median CPU ms");
        foreach (var r in rows.Take(rows.Count - 1))
            t.AddRow(Markup.Escape(r.Name), F(r.Median), F(r.Min), F(r.Max), F(r.SamplesPerSecond / 1e6, "F0"), F(r.CpuMedian));
        console.Write(t);
        var ratio = rows[^1];
        bool okRatio = ratio.Median <= TargetLogitsOverSum;
        bool okPreds = rows[3].SamplesPerSecond >= TargetPredictionsPerSecond;
        console.WriteLine($"logits 1 thread / Sum: median {F(ratio.Median)}x (min {F(ratio.Min)}, max {F(ratio.Max)}); " +
            $"target <= {F(TargetLogitsOverSum, "F1")}x: {(okRatio ? "met" : "NOT met")}; by CPU time: median {F(ratio.CpuMedian)}x");
        console.WriteLine($"int predictions 1 thread: {F(rows[3].SamplesPerSecond / 1e6, "F0")} M samples/s; " +
            $"target >= {F(TargetPredictionsPerSecond / 1e6, "F0")}: {(okPreds ? "met" : "NOT met")}; by CPU time: " +
            $"{F(o.N / (rows[3].CpuMedian / 1000) / 1e6, "F0")} M samples/s");
    }

    internal static double Median(double[] values)
    {
        var s = values.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
