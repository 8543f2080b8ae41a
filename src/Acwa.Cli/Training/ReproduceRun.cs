using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Acwa.Cli.Commands;
using Acwa.Onnx.IO;
using Acwa.Onnx;
using Acwa.Onnx.Data;
using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Runs;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Cli.Training;

/// <summary>
/// <c>acwa reproduce</c>: every selected method (<see cref="ReproduceMethod"/>) for seeds 0..N-1, each one
/// <see cref="TrainRun"/> in OUT/METHOD/seedN with resume semantics (a finished run is only re-evaluated, an interrupted one
/// continues from its checkpoint), then results.md, results.json and plots in OUT (<see cref="ReproduceReport"/>). Several
/// processes may share one OUT (one per core or GPU): each run folder is held by one process at a time (<see cref="TryHoldRun"/>),
/// the others skip it and leave its method out of their report.
/// </summary>
internal static class ReproduceRun
{
    /// <summary>
    /// Runs <see cref="Run"/>; bad input and failed runs print <c>error: ...</c> and return exit code 2. SIGINT or SIGTERM
    /// stop the run in progress at its next step boundary with a checkpoint, print how to go on (the same command: runs
    /// resume from their checkpoints) and return 130 or 143 (<see cref="InterruptSignals"/>).
    /// </summary>
    public static int Execute(ReproduceOptions o, TextWriter output, TextWriter error, IReadOnlyList<string>? commandLine = null)
    {
        using var signals = new InterruptSignals();
        try
        {
            Run(o, output, signals.Token);
            return 0;
        }
        catch (TrainingInterruptedException e)
        {
            error.WriteLine($"{signals.Name}: {e.Message}");
            error.WriteLine($"interrupted; resume with: acwa {InterruptSignals.ShellLine(commandLine ?? ["reproduce"])}");
            return signals.ExitCode;
        }
        catch (Exception e) when (TrainRun.IsUserFacing(e))
        {
            return ConsoleOutput.Fail(error, OptionHints.Message(e));
        }
    }

    /// <summary>Trains (or picks up) every run, writes the report, prints the results table, and returns the per-run results by method.</summary>
    /// <exception cref="ArgumentException">Unknown method, seeds or epochs below 1, or any bad training option.</exception>
    public static IReadOnlyList<(ReproduceMethod Method, IReadOnlyList<ReproduceRunResult> Runs)> Run(ReproduceOptions o, TextWriter output, CancellationToken cancellationToken = default)
    {
        var methods = ReproduceMethod.Select(o.Methods,
            [.. o.ExtraBaselines.Select(t => ReproduceMethod.ParseExtra(t, baseline: true)), .. o.ExtraMethods.Select(t => ReproduceMethod.ParseExtra(t, baseline: false))]);
        if (o.Split is not ("test" or "validation"))
            throw new ArgumentException($"--split must be test or validation, got '{o.Split}'");
        if (o.Reference is { } reference && !methods.Any(m => string.Equals(m.Name, reference.Trim(), StringComparison.OrdinalIgnoreCase)))
            throw new ArgumentException($"--reference '{reference}' is not among the methods of this invocation ({string.Join(", ", methods.Select(m => m.Name))})");
        if (o.Seeds < 1) throw new ArgumentException($"--seeds must be 1 or more, got {o.Seeds}");
        if (o.Epochs < 1) throw new ArgumentException($"--epochs must be 1 or more, got {o.Epochs}");
        var outDir = Path.GetFullPath(o.ResolveOutDir());
        string shardFrom = "";
        Directory.CreateDirectory(outDir);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"reproduce: {methods.Count} methods x {o.Seeds} seeds | {o.Dataset} ({o.Imbalance}) | model {o.Model} | adam lr {o.LearningRate} | batch {o.Batch} | {o.Epochs} epochs | device {o.Device} | {outDir}"));
        if (!o.ReportOnly && DatasetSpec.Parse(o.Dataset) is { Kind: DatasetKind.FashionMnist } spec && spec.ResolveOrigin() == DatasetOrigin.EmbeddedSubset) output.WriteLine(FashionMnist.EmbeddedNotice);

        var all = new List<(ReproduceMethod, IReadOnlyList<ReproduceRunResult>)>();
        // The grid's manifest, sorted by (dataset, method, seed): run r belongs to shard r mod N.
        var manifest = Manifest(methods, o.Seeds);
        var shard = o.ReportOnly ? null : Shard.Resolve(o.Shard, o.Shards, o.Environment, out shardFrom);
        if (shard is { } sh)
        {
            var mine = manifest.Where((_, r) => sh.Owns(r)).Select(x => $"{x.Method} seed{x.Seed}").ToList();
            output.WriteLine($"shard {sh} ({shardFrom}): {mine.Count} of the grid's {manifest.Count} runs (run r of the sorted (dataset, method, seed) manifest goes to shard r mod {sh.Count}): {(mine.Count == 0 ? "none" : string.Join(", ", mine))}");
        }
        if (o.ReportOnly)
        {
            var incomplete = new List<string>();
            var missing = new List<string>();
            methods = methods.Where(m =>
            {
                var done = Enumerable.Range(0, o.Seeds).Select(s => EpochsDone(o.RunOptions(m, s, outDir).OutDir!)).ToList();
                if (done.All(d => d >= o.Epochs)) return true;
                missing.AddRange(done.Select((d, s) => (d, s)).Where(x => x.d < o.Epochs).Select(x => $"{m.Name} seed{x.s} (OUT/{m.Name}/seed{x.s})"));
                incomplete.Add($"{m.Name}: " + string.Join(", ", done.Select((d, s) => $"seed{s} " +
                    (d < 0 ? "not started" : d >= o.Epochs ? "finished" : $"stopped after epoch {d}/{o.Epochs}"))));
                return false;
            }).ToList();
            foreach (var line in incomplete) output.WriteLine($"not in the report (--report-only trains nothing): {line}");
            if (missing.Count > 0) output.WriteLine($"missing runs ({missing.Count} of {manifest.Count}, not finished): {string.Join(", ", missing)}");
            if (methods.Count == 0) throw new ArgumentException($"--report-only: no method has finished all {o.Seeds} seeds in '{outDir}'");
        }
        var elsewhere = new List<string>();
        foreach (var m in methods)
        {
            var runs = new List<ReproduceRunResult>();
            for (int seed = 0; seed < o.Seeds; seed++)
            {
                if (shard is { } own && !own.Owns(manifest.IndexOf((m.Name, seed)))) continue;
                var ro = o.RunOptions(m, seed, outDir);
                var prefix = $"{m.Name} seed{seed}";
                using var hold = TryHoldRun(ro.OutDir!);
                if (hold is null)
                {
                    output.WriteLine($"{prefix}: held by another acwa process (its {LockFile}), skipped here");
                    elsewhere.Add(prefix);
                    continue;
                }
                CheckSameConfig(ro);
                var status = StatusBefore(ro.OutDir!, o.Epochs);
                var clock = Stopwatch.StartNew();
                // Quiet progress: one line per epoch, prefixed with the method and seed.
                var outcome = TrainRun.RunQuietly(ro, r =>
                {
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{prefix} epoch {r.Epoch + 1}/{ro.Epochs}: loss {r.TrainLoss:F4}, val macro-F1 {r.Validation.MacroF1:F4}, {r.Timings.Total:F1} s"));
                    output.Flush();
                }, cancellationToken);
                var r = FromOutcome(seed, status, clock.Elapsed.TotalSeconds, outcome, o.Split);
                runs.Add(r);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{prefix}: {status}; {o.Split} macro-F1 {r.MacroF1:F4}, minority F1 {r.MinorityF1:F4}, balanced accuracy {r.BalancedAccuracy:F4} ({r.Seconds:F1} s)"));
            }
            if (runs.Count == o.Seeds) all.Add((m, runs));
        }
        if (shard is { Count: > 1 } part)
        {
            output.WriteLine($"shard {part} done; once every shard has finished, `acwa reproduce --report-only` with the same options over {outDir} writes the report of the whole grid");
            return all;
        }
        if (elsewhere.Count > 0)
            output.WriteLine($"not in this report (running in another process): {string.Join(", ", elsewhere)}; when they finish, `--report-only` with the same options reports every method");
        if (all.Count == 0) return all;
        ReproduceReport.Write(outDir, o, all, output);
        return all;
    }

    /// <summary>
    /// The grid's runs in the order that assigns them to shards: (dataset, method, seed) sorted by method name (ordinal) then
    /// seed (one invocation has one dataset); run r goes to shard r mod N (<see cref="Shard.Owns"/>). The same for every shard
    /// of one grid, whatever the order of --methods.
    /// </summary>
    internal static List<(string Method, int Seed)> Manifest(IEnumerable<ReproduceMethod> methods, int seeds) =>
        methods.Select(m => m.Name).Distinct().OrderBy(n => n, StringComparer.Ordinal)
            .SelectMany(n => Enumerable.Range(0, seeds).Select(s => (n, s))).ToList();

    /// <summary>The lock file in a run folder while a process trains (or re-evaluates) that run.</summary>
    internal const string LockFile = "run.lock";

    /// <summary>
    /// Holds a run folder for this process: an exclusive OS lock on <see cref="LockFile"/> (released when the hold is
    /// disposed or the process dies), so that several `acwa reproduce` processes can share one --out, each taking the runs
    /// no other holds. Null when another process holds it. Disposing the hold removes the lock file (<see cref="RunHold"/>).
    /// </summary>
    internal static RunHold? TryHoldRun(string runDir) => RunHold.TryAcquire(Path.Combine(runDir, LockFile));

    /// <summary>Settings that must match for a run folder to be picked up (the device and thread count may change).</summary>
    private static readonly string[] RunIdentity = ["dataset", "imbalance", "model", "loss", "policy", "feedback", "optimizer", "lr", "schedule", "momentum", "weight_decay", "epochs", "batch", "val_fraction", "seed"];

    /// <summary>The value a config.json written before a key existed stands for (runs before the feedback option were fed from validation).</summary>
    private static readonly Dictionary<string, string> MissingMeans = new(StringComparer.Ordinal) { ["feedback"] = "\"validation\"" };

    /// <summary>
    /// Refuses to pick up a run folder whose config.json was written with other settings (another model, learning rate, ...):
    /// its artifacts and checkpoint would otherwise be reused and reported under the new settings. No config.json: nothing to check.
    /// </summary>
    /// <exception cref="ArgumentException">A setting differs (the message names the folder, the setting and both values).</exception>
    private static void CheckSameConfig(TrainingRunOptions ro)
    {
        var path = Path.Combine(ro.OutDir!, "config.json");
        if (!File.Exists(path)) return;
        JsonObject old;
        try
        {
            old = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"'{path}' is not a JSON object");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e);
        }
        var now = ro.ToJson();
        foreach (var key in RunIdentity)
        {
            var a = old[key]?.ToJsonString() ?? MissingMeans.GetValueOrDefault(key);
            var b = now[key]?.ToJsonString();
            if (a != b)
                throw new ArgumentException($"'{ro.OutDir}' holds a run with {key} {a ?? "(missing)"}, this invocation asks for {b}; choose another --out or remove that folder");
        }
    }

    /// <summary>"trained" (no checkpoint yet), "already finished, re-evaluated", or "resumed after epoch K/N".</summary>
    private static string StatusBefore(string runDir, int epochs) => EpochsDone(runDir) switch
    {
        < 0 => "trained",
        var done when done >= epochs => "already finished, re-evaluated",
        var done => $"resumed after epoch {done}/{epochs}",
    };

    /// <summary>Epochs a run folder has finished (its checkpoint's trainer.completed_epochs); -1 when it has no checkpoint yet.</summary>
    private static int EpochsDone(string runDir)
    {
        var checkpoint = Path.Combine(runDir, "checkpoint.acwa");
        if (!File.Exists(checkpoint)) return -1;
        // The checkpoint's own count decides (metrics.json may lag or, from runs resumed before the history fix, miss epochs).
        try { return TensorFile.LoadMeta(checkpoint)["extra"]?["trainer"]?["completed_epochs"]?.GetValue<int>() ?? 0; }
        catch (Exception e) when (e is InvalidDataException or IOException or InvalidOperationException or FormatException)
        {
            return 0; // an unreadable checkpoint only affects the status shown here; training itself reports it
        }
    }

    private static ReproduceRunResult FromOutcome(int seed, string status, double seconds, TrainingRunResult outcome, string split)
    {
        var r = FromOutcome(seed, status, seconds, outcome);
        if (split != "validation") return r;
        var last = outcome.History.Count > 0 ? outcome.History[^1] : throw new InvalidDataException($"run '{outcome.OutDir}' has no epoch history");
        return r.WithValidationMetrics(last.ValidationMacroF1, last.ValidationBalancedAccuracy);
    }

    private static ReproduceRunResult FromOutcome(int seed, string status, double seconds, TrainingRunResult outcome)
    {
        var test = outcome.Test ?? throw new InvalidDataException($"run '{outcome.OutDir}' has no test evaluation");
        return new ReproduceRunResult(seed, outcome.OutDir, status, seconds, test.MacroF1, test.MeanF1(MinorityClasses.UpperHalf(test.Classes.Count)) /* the paper's set, as its tables report it */, test.BalancedAccuracy,
            test.Classes.Select(c => c.Name).ToArray(), test.Classes.Select(c => c.F1).ToArray(), outcome.FinalWeights,
            outcome.History.Select(h => h.Weights.ToArray()).ToArray(), outcome.History.Select(h => h.ValidationF1.ToArray()).ToArray(),
            outcome.History.Select(h => h.Epoch).ToArray());
    }
}
