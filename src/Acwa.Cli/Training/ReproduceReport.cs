using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Acwa.Cli.Reporting;
using Acwa.Onnx.IO;
using Acwa.Onnx;

namespace Acwa.Cli.Training;

/// <summary>
/// The report of <c>acwa reproduce</c> in OUT: results.md (summary table with the paper's claims beside it, verdict,
/// per-class F1, final weights, per-seed macro-F1), results.json (every number), per-method plots of the mean class weights
/// and mean validation F1 over epochs, and a bar chart of macro-F1 per method with the seed spread as error bars.
/// Means are over seeds; std is the sample standard deviation (n - 1), 0 with one seed.
/// </summary>
internal static class ReproduceReport
{
    /// <summary>Mean and sample standard deviation (n - 1 in the denominator; 0 for a single value).</summary>
    /// <exception cref="ArgumentException">No values.</exception>
    public static (double Mean, double Std) MeanStd(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values to average", nameof(values));
        double mean = values.Average();
        if (values.Count == 1) return (mean, 0);
        double ss = values.Sum(v => (v - mean) * (v - mean));
        return (mean, Math.Sqrt(ss / (values.Count - 1)));
    }

    /// <summary>"81.23 ± 1.05": a fraction's mean and std over <paramref name="n"/> seeds in percent, two decimals; the value alone ("81.23") for one seed, which has no spread.</summary>
    public static string Percent((double Mean, double Std) s, int n) => n < 2
        ? string.Create(CultureInfo.InvariantCulture, $"{100 * s.Mean:F2}")
        : string.Create(CultureInfo.InvariantCulture, $"{100 * s.Mean:F2} ± {100 * s.Std:F2}");

    /// <summary>Writes results.md, results.json and the plots into <paramref name="outDir"/> and prints the summary table.</summary>
    public static void Write(string outDir, ReproduceOptions o, IReadOnlyList<(ReproduceMethod Method, IReadOnlyList<ReproduceRunResult> Runs)> results, TextWriter output)
    {
        var md = Markdown(o, results, out var table);
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.md"), md);
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.json"), Json(o, results).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Plots(outDir, results, Split(o));
        if (PairedDifferences(o, results) is { } paired)
            PairedPlot(Path.Combine(outDir, "paired_differences.png"), paired, results[0].Runs.Count, Split(o));
        output.WriteLine();
        output.Write(table);
        output.WriteLine($"report: {Path.Combine(outDir, "results.md")} (also results.json, macro_f1.png, paired_differences.png, METHOD/mean_weights.png, METHOD/mean_val_f1.png)");
    }

    private static string Markdown(ReproduceOptions o, IReadOnlyList<(ReproduceMethod Method, IReadOnlyList<ReproduceRunResult> Runs)> results, out string summaryTable)
    {
        var names = results[0].Runs[0].ClassNames;
        int classes = names.Count, seeds = results[0].Runs.Count;
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# Reproduction: {o.Dataset}, imbalance {o.Imbalance}, model {o.Model}");
        sb.AppendLine();
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Every method: model `{o.Model}`, Adam lr {o.LearningRate}, batch {o.Batch}, {o.Epochs} epochs, constant learning rate, stratified validation split {o.ValidationFraction} of the training set, " +
            $"device {o.Device}, seeds 0..{seeds - 1} (each seed fixes imbalance sampling, split, initialisation and shuffling, identical across methods). " +
            $"{(seeds == 1 ? $"{Cap(Split(o))} metrics of the final model of the one seed, in percent (one seed: no spread)." : $"{Cap(Split(o))} metrics of the final model; mean ± sample std over {seeds} seeds, in percent.")}"));
        if (Split(o) == "validation")
        {
            sb.AppendLine();
            sb.AppendLine("**Validation numbers** (`--split validation`): every metric below is the final epoch's, on the validation split that also fed the adaptive policies; no test number is reported, so the test sets stay unseen for the final runs (the run folders still hold test_report.json: do not read it before then).");
        }
        sb.AppendLine();

        var t = new StringBuilder();
        t.AppendLine(CultureInfo.InvariantCulture, $"| method | loss | policy | {Split(o)} macro-F1 | minority-class F1 (classes {classes / 2}-{classes - 1}) | balanced accuracy | paper macro-F1 CIFAR-10 | paper macro-F1 ISIC-2018 |");
        t.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var (m, runs) in results)
        {
            t.AppendLine(CultureInfo.InvariantCulture,
                $"| {m.Name} | {m.Loss} | `{m.Policy}` | {Percent(MeanStd(runs.Select(r => r.MacroF1).ToArray()), runs.Count)} | {Percent(MeanStd(runs.Select(r => r.MinorityF1).ToArray()), runs.Count)} | " +
                $"{Percent(MeanStd(runs.Select(r => r.BalancedAccuracy).ToArray()), runs.Count)} | {Claim(m.PaperCifar10)} | {Claim(m.PaperIsic2018)} |");
        }
        summaryTable = t.ToString();
        sb.Append(summaryTable);
        sb.AppendLine();
        sb.AppendLine(PaperNote(o));
        sb.AppendLine();

        sb.AppendLine("## Verdict");
        sb.AppendLine();
        foreach (var line in Verdict(results)) sb.AppendLine(line);
        sb.AppendLine();

        var paired = PairedDifferences(o, results);
        if (paired is not null)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"## Paired differences against {paired.Reference.Name}");
            sb.AppendLine();
            foreach (var line in PairedLines(paired, seeds, Split(o))) sb.AppendLine(line);
            sb.AppendLine();
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"## Per-class {Split(o)} F1 (mean over seeds, percent)");
        sb.AppendLine();
        AppendPerClass(sb, names, results, r => r.ClassF1, 100, "F2");
        sb.AppendLine();
        sb.AppendLine("## Final class weights (mean over seeds)");
        sb.AppendLine();
        AppendPerClass(sb, names, results, r => r.FinalWeights, 1, "F3");
        sb.AppendLine();

        sb.AppendLine(CultureInfo.InvariantCulture, $"## {Cap(Split(o))} macro-F1 per seed (percent)");
        sb.AppendLine();
        sb.AppendLine("| method | " + string.Join(" | ", results[0].Runs.Select(r => $"seed {r.Seed}")) + " |");
        sb.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---|", seeds)));
        foreach (var (m, runs) in results)
            sb.AppendLine($"| {m.Name} | " + string.Join(" | ", runs.Select(r => (100 * r.MacroF1).ToString("F2", CultureInfo.InvariantCulture))) + " |");
        sb.AppendLine();
        sb.AppendLine("Run folders: `METHOD/seedN` (config, metrics, weights, checkpoint, model, confusion matrix). Plots: `macro_f1.png`, `paired_differences.png`, `METHOD/mean_weights.png`, `METHOD/mean_val_f1.png`.");
        var gaps = results.SelectMany(x => x.Runs.Where(r => r.HistoryEpochs.Count < o.Epochs)
            .Select(r => $"{x.Method.Name} seed{r.Seed} ({(r.HistoryEpochs.Count == 0 ? "none" : $"{r.HistoryEpochs.Count} of {o.Epochs}: epochs {r.HistoryEpochs.Min() + 1}-{r.HistoryEpochs.Max() + 1}")})")).ToList();
        if (gaps.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine($"Epoch history incomplete for {string.Join(", ", gaps)}: the mean curves average, per epoch, the seeds that have it. " +
                "The test metrics come from the final model and do not depend on the history.");
        }
        return sb.ToString();
    }

    /// <summary>The split the report's numbers come from: "test" (default) or "validation" (<see cref="ReproduceOptions.Split"/>).</summary>
    internal static string Split(ReproduceOptions o) => o.Split;

    private static string Cap(string word) => char.ToUpperInvariant(word[0]) + word[1..];

    private static string Claim(double? v) => v is { } x ? x.ToString("F1", CultureInfo.InvariantCulture) : "-";

    private static string PaperNote(ReproduceOptions o)
    {
        var ds = o.Dataset.ToLowerInvariant();
        string which = ds.StartsWith("cifar10", StringComparison.Ordinal)
            ? "This run is on CIFAR-10: compare with the CIFAR-10 column, keeping in mind that the paper trained 100 epochs and does not name its model."
            : ds.StartsWith("isic2018", StringComparison.Ordinal)
                ? "This run is on ISIC-2018: compare with the ISIC-2018 column, keeping in mind that the paper trained 100 epochs and does not name its model."
                : "The paper has no Fashion-MNIST numbers (nor numbers for any dataset other than CIFAR-10 and ISIC-2018); its columns are shown for context only and are not a target for this dataset.";
        return "Paper columns: the macro-F1 (percent) the paper claims on step-imbalanced CIFAR-10 (ratio 10) and ISIC-2018 task 3 (docs/protocol.md, \"What the paper claims\"); " +
               "'-' where it gives none (it reports no plain-CE baseline and none of the centred, multiplicative or prior variants). " + which;
    }

    private static void AppendPerClass(StringBuilder sb, IReadOnlyList<string> names, IReadOnlyList<(ReproduceMethod Method, IReadOnlyList<ReproduceRunResult> Runs)> results,
        Func<ReproduceRunResult, double[]> values, double scale, string format)
    {
        sb.AppendLine("| method | " + string.Join(" | ", names.Select((n, i) => $"{i} {n.Replace('|', '/')}")) + " |");
        sb.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---|", names.Count)));
        foreach (var (m, runs) in results)
        {
            var mean = MeanPerClass(runs.Select(values).ToArray());
            sb.AppendLine($"| {m.Name} | " + string.Join(" | ", mean.Select(v => (scale * v).ToString(format, CultureInfo.InvariantCulture))) + " |");
        }
    }

    private static double[] MeanPerClass(IReadOnlyList<double[]> rows) =>
        Enumerable.Range(0, rows[0].Length).Select(c => rows.Average(r => r[c])).ToArray();

    /// <summary>
    /// One line per ACWA variant: its macro-F1 against CE and against the best baseline (highest mean macro-F1 among ce, focal,
    /// cb, ldam-drw that were run), in points, called "within noise" when |difference| is below the larger of the two stds.
    /// </summary>
    internal static IReadOnlyList<string> Verdict(IReadOnlyList<(ReproduceMethod Method, IReadOnlyList<ReproduceRunResult> Runs)> results)
    {
        var stats = results.Select(r => (r.Method, S: MeanStd(r.Runs.Select(x => x.MacroF1).ToArray()))).ToList();
        int seeds = results[0].Runs.Count;
        var lines = new List<string>();
        var ce = stats.FirstOrDefault(s => s.Method.Name == "ce");
        var baselines = stats.Where(s => s.Method.IsBaseline).ToList();
        var best = baselines.Count == 0 ? default : baselines.MaxBy(s => s.S.Mean);
        var variants = stats.Where(s => !s.Method.IsBaseline).ToList();
        if (seeds < 2)
            lines.Add("With one seed there is no seed spread: the differences below are not tested against noise; rerun with --seeds 3 or more.");
        else if (seeds == 2)
            lines.Add("With two seeds the std is a rough estimate of the spread: treat differences close to it with caution.");
        if (variants.Count == 0) lines.Add("No ACWA variant was run, so there is nothing to judge.");
        if (baselines.Count == 0 && variants.Count > 0) lines.Add($"No baseline was run ({string.Join(", ", ReproduceMethod.BaselineNames)}), so the variants are not compared with anything.");
        foreach (var v in variants)
        {
            var parts = new List<string>();
            if (ce.Method is not null) parts.Add($"vs CE ({Percent(ce.S, seeds)}): {Compare(v.S, ce.S, seeds)}");
            if (best.Method is not null && best.Method != ce.Method)
                parts.Add($"vs the best baseline, {best.Method.Name} ({Percent(best.S, seeds)}): {Compare(v.S, best.S, seeds)}");
            else if (best.Method is not null)
                parts.Add("CE is the best baseline run");
            if (parts.Count > 0) lines.Add($"- **{v.Method.Name}** ({Percent(v.S, seeds)}): {string.Join("; ", parts)}.");
        }
        var acwa = stats.FirstOrDefault(s => s.Method.Name == "acwa");
        var ldam = stats.FirstOrDefault(s => s.Method.Name == "ldam-drw");
        if (acwa.Method is not null && ldam.Method is not null)
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"\nThe paper claims paper-exact ACWA beats LDAM-DRW by +3.4 points on CIFAR-10 and +2.8 on ISIC-2018; here the difference is {100 * (acwa.S.Mean - ldam.S.Mean):+0.00;-0.00;0.00} points, " +
                $"{Spread(acwa.S, ldam.S, seeds)}."));
        return lines;
    }

    private static string Compare((double Mean, double Std) a, (double Mean, double Std) b, int seeds)
    {
        double diff = 100 * (a.Mean - b.Mean);
        var d = diff.ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture);
        return $"{d} points, {Spread(a, b, seeds)}";
    }

    private static string Spread((double Mean, double Std) a, (double Mean, double Std) b, int seeds)
    {
        double diff = 100 * (a.Mean - b.Mean), spread = 100 * Math.Max(a.Std, b.Std);
        var s = spread.ToString("F2", CultureInfo.InvariantCulture);
        if (seeds < 2) return "one seed, no spread to compare with";
        if (Math.Abs(diff) < spread) return $"within noise (larger std {s})";
        return diff > 0 ? $"better by more than the seed spread (larger std {s})" : $"worse by more than the seed spread (larger std {s})";
    }

    /// <summary>The paired differences of every other method against the reference: test macro-F1 and minority-class F1.</summary>
    internal sealed record Paired(ReproduceMethod Reference, string Why,
        IReadOnlyList<(ReproduceMethod Method, PairedStats.Difference MacroF1, PairedStats.Difference MinorityF1, PairedStats.Difference BalancedAccuracy, double[] PerSeed)> Rows);

    /// <summary>
    /// Paired differences against <see cref="ReproduceOptions.Reference"/> when it was run, else against the best baseline run
    /// (highest mean test macro-F1; the first method when no baseline was run). Null with a single method.
    /// </summary>
    internal static Paired? PairedDifferences(ReproduceOptions o, IReadOnlyList<(ReproduceMethod Method, IReadOnlyList<ReproduceRunResult> Runs)> results)
    {
        if (results.Count < 2) return null;
        static double Mean(IReadOnlyList<ReproduceRunResult> runs) => runs.Average(r => r.MacroF1);
        var named = o.Reference is { } name ? results.FirstOrDefault(r => string.Equals(r.Method.Name, name.Trim(), StringComparison.OrdinalIgnoreCase)) : default;
        var baselines = results.Where(r => r.Method.IsBaseline).ToList();
        var (reference, why) = named.Method is not null
            ? (named, "named with --reference")
            : baselines.Count > 0
                ? (baselines.MaxBy(r => Mean(r.Runs)), $"the best baseline run by mean {Split(o)} macro-F1" + (o.Reference is null ? "" : $"; --reference {o.Reference} is not in this report"))
                : (results[0], "the first method (no baseline was run)");
        var rows = new List<(ReproduceMethod, PairedStats.Difference, PairedStats.Difference, PairedStats.Difference, double[])>();
        foreach (var (m, runs) in results)
        {
            if (m == reference.Method) continue;
            for (int i = 0; i < runs.Count; i++)
            {
                if (runs[i].Seed != reference.Runs[i].Seed)
                    throw new InvalidOperationException($"{m.Name} has seed {runs[i].Seed} where {reference.Method.Name} has {reference.Runs[i].Seed}: runs cannot be paired");
            }
            rows.Add((m,
                PairedStats.Paired(runs.Select(r => r.MacroF1).ToArray(), reference.Runs.Select(r => r.MacroF1).ToArray()),
                PairedStats.Paired(runs.Select(r => r.MinorityF1).ToArray(), reference.Runs.Select(r => r.MinorityF1).ToArray()),
                PairedStats.Paired(runs.Select(r => r.BalancedAccuracy).ToArray(), reference.Runs.Select(r => r.BalancedAccuracy).ToArray()),
                runs.Select((r, i) => r.MacroF1 - reference.Runs[i].MacroF1).ToArray()));
        }
        return new Paired(reference.Method, why, rows);
    }

    /// <summary>"+0.52 [-0.10, +1.14]": a difference in points with its 95 % interval; the mean alone with one seed.</summary>
    internal static string Interval(PairedStats.Difference d) => d.N < 2
        ? string.Create(CultureInfo.InvariantCulture, $"{100 * d.Mean:+0.00;-0.00;0.00}")
        : string.Create(CultureInfo.InvariantCulture, $"{100 * d.Mean:+0.00;-0.00;0.00} [{100 * d.Lower:+0.00;-0.00;0.00}, {100 * d.Upper:+0.00;-0.00;0.00}]");

    private static string Call(PairedStats.Difference macro, PairedStats.Difference minority) => macro.N < 2
        ? "one seed: no interval"
        : (macro.Sign, minority.Sign) switch
        {
            (1, 1) => "**beats** (both intervals above 0)",
            (1, _) => "macro-F1 above, minority F1 not",
            (-1, _) => "worse (macro-F1 interval below 0)",
            _ => "not separated (interval contains 0)",
        };

    internal static IReadOnlyList<string> PairedLines(Paired p, int seeds, string split = "test")
    {
        string t = seeds >= 2 ? string.Create(CultureInfo.InvariantCulture, $", t = {PairedStats.TQuantile(0.975, seeds - 1):F4}") : "";
        var lines = new List<string>
        {
            $"Reference: **{p.Reference.Name}** ({p.Why}). Per seed s, d_s = method_s - {p.Reference.Name}_s (same split and initial weights); " +
            (seeds < 2 ? "d of the one seed in points (no interval)" : $"mean of d over {seeds} seeds in points, with the 95 % Student-t interval mean ± t(0.975, {seeds - 1}) sd/sqrt({seeds}){t}") +
            ". A method **beats** the reference when both intervals lie above 0.",
            "",
            $"| method | loss | policy | {split} macro-F1 difference [95 % CI] | minority-class F1 difference [95 % CI] | call | balanced accuracy difference [95 % CI] |",
            "|---|---|---|---|---|---|---|",
        };
        foreach (var (m, macro, minority, balanced, _) in p.Rows)
            lines.Add($"| {m.Name} | {m.Loss} | `{m.Policy}` | {Interval(macro)} | {Interval(minority)} | {Call(macro, minority)} | {Interval(balanced)} |");
        if (seeds < 2) lines.Add("\nWith one seed there are no intervals; rerun with --seeds 5 or more.");
        return lines;
    }

    private static JsonObject PairedJson(Paired p)
    {
        static JsonObject D(PairedStats.Difference d) => new()
        {
            ["mean"] = d.Mean, ["lower"] = d.N < 2 ? null : d.Lower, ["upper"] = d.N < 2 ? null : d.Upper, ["sd"] = d.Sd, ["n"] = d.N,
        };
        return new JsonObject
        {
            ["reference"] = p.Reference.Name, ["why"] = p.Why, ["confidence"] = 0.95,
            ["interval"] = "mean of per-seed differences +- t(0.975, n-1) * sd / sqrt(n), sd with n - 1",
            ["methods"] = new JsonArray(p.Rows.Select(r => (JsonNode)new JsonObject
            {
                ["name"] = r.Method.Name, ["macro_f1"] = D(r.MacroF1), ["minority_f1"] = D(r.MinorityF1), ["balanced_accuracy"] = D(r.BalancedAccuracy),
                ["macro_f1_per_seed"] = new JsonArray(r.PerSeed.Select(v => (JsonNode)v).ToArray()),
            }).ToArray()),
        };
    }

    private static void PairedPlot(string path, Paired p, int seeds, string split)
    {
        var plt = new ScottPlot.Plot();
        plt.Font.Set("DejaVu Sans");
        plt.Title(seeds < 2 ? $"{Cap(split)} macro-F1 minus {p.Reference.Name} (one seed)" : $"{Cap(split)} macro-F1 minus {p.Reference.Name}: mean of {seeds} paired seeds, 95% t-interval");
        plt.YLabel("difference (points)");
        var palette = new ScottPlot.Palettes.Category10();
        var bars = p.Rows.Select((r, i) => new ScottPlot.Bar
        {
            Position = i, Value = 100 * r.MacroF1.Mean, Error = r.MacroF1.N < 2 ? 0 : 100 * (r.MacroF1.Upper - r.MacroF1.Mean),
            FillColor = palette.GetColor(r.Method.IsBaseline ? 0 : 1),
        }).ToList();
        plt.Add.Bars(bars);
        for (int i = 0; i < p.Rows.Count; i++)
        {
            var dots = plt.Add.ScatterPoints(Enumerable.Repeat((double)i, p.Rows[i].PerSeed.Length).ToArray(), p.Rows[i].PerSeed.Select(v => 100 * v).ToArray());
            dots.Color = ScottPlot.Colors.Black;
            dots.MarkerSize = 4;
        }
        plt.Add.HorizontalLine(0, 1, ScottPlot.Colors.Gray);
        var pos = Enumerable.Range(0, p.Rows.Count).Select(i => (double)i).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(pos, p.Rows.Select(r => r.Method.Name).ToArray());
        plt.Axes.SetLimitsX(-0.6, p.Rows.Count - 0.4);
        TrainingPlots.SavePng(plt, path, Math.Max(700, 115 * p.Rows.Count), 560);
    }

    private static JsonObject Json(ReproduceOptions o, IReadOnlyList<(ReproduceMethod Method, IReadOnlyList<ReproduceRunResult> Runs)> results)
    {
        static JsonArray Arr(IEnumerable<double> v) => new(v.Select(x => (JsonNode)x).ToArray());
        static JsonObject Stat(IReadOnlyList<double> v)
        {
            var (mean, std) = MeanStd(v);
            return new JsonObject { ["mean"] = mean, ["std"] = std };
        }
        var methods = new JsonArray();
        foreach (var (m, runs) in results)
        {
            methods.Add(new JsonObject
            {
                ["name"] = m.Name, ["loss"] = m.Loss, ["policy"] = m.Policy, ["baseline"] = m.IsBaseline, ["description"] = m.Description,
                ["optimizer"] = m.Optimizer ?? "adam", ["lr"] = m.LearningRate ?? o.LearningRate, ["feedback"] = Onnx.Training.Runs.TrainingRunOptions.FeedbackName(m.Feedback),
                ["paper_macro_f1_cifar10"] = m.PaperCifar10, ["paper_macro_f1_isic2018"] = m.PaperIsic2018,
                ["macro_f1"] = Stat(runs.Select(r => r.MacroF1).ToArray()),
                ["minority_f1"] = Stat(runs.Select(r => r.MinorityF1).ToArray()),
                ["balanced_accuracy"] = Stat(runs.Select(r => r.BalancedAccuracy).ToArray()),
                ["class_f1_mean"] = Arr(MeanPerClass(runs.Select(r => r.ClassF1).ToArray())),
                ["final_weights_mean"] = Arr(MeanPerClass(runs.Select(r => r.FinalWeights).ToArray())),
                ["runs"] = new JsonArray(runs.Select(r => (JsonNode)new JsonObject
                {
                    ["seed"] = r.Seed, ["dir"] = r.Dir, ["status"] = r.Status, ["seconds"] = r.Seconds,
                    ["macro_f1"] = r.MacroF1, ["minority_f1"] = r.MinorityF1, ["balanced_accuracy"] = r.BalancedAccuracy,
                    ["class_f1"] = Arr(r.ClassF1), ["final_weights"] = Arr(r.FinalWeights),
                    ["val_macro_f1"] = Arr(r.ValidationF1.Select(e => e.Average())),
                    ["val_macro_f1_epochs"] = new JsonArray(r.HistoryEpochs.Select(e => (JsonNode)(e + 1)).ToArray()),
                }).ToArray()),
            });
        }
        var names = results[0].Runs[0].ClassNames;
        return new JsonObject
        {
            ["dataset"] = o.Dataset, ["imbalance"] = o.Imbalance, ["model"] = o.Model, ["optimizer"] = "adam", ["lr"] = o.LearningRate,
            ["batch"] = o.Batch, ["epochs"] = o.Epochs, ["seeds"] = results[0].Runs.Count, ["val_fraction"] = o.ValidationFraction, ["device"] = o.Device,
            ["std"] = "sample standard deviation over seeds (n - 1), 0 for one seed",
            ["split"] = Split(o),
            ["minority_classes"] = new JsonArray(Enumerable.Range(names.Count / 2, names.Count - names.Count / 2).Select(c => (JsonNode)c).ToArray()),
            ["class_names"] = new JsonArray(names.Select(n => (JsonNode)n).ToArray()),
            ["methods"] = methods,
            ["verdict"] = new JsonArray(Verdict(results).Select(l => (JsonNode)l.Trim()).ToArray()),
            ["paired"] = PairedDifferences(o, results) is { } p ? PairedJson(p) : null,
        };
    }

    private static void Plots(string outDir, IReadOnlyList<(ReproduceMethod Method, IReadOnlyList<ReproduceRunResult> Runs)> results, string split)
    {
        foreach (var (m, runs) in results)
        {
            var names = runs[0].ClassNames;
            // Aligned by epoch number: a run whose history misses epochs (see the report's note) leaves them to the other seeds.
            var weights = new List<double[]>();
            var f1 = new List<double[]>();
            var rowOf = runs.Select(r => r.HistoryEpochs.Select((epoch, row) => (epoch, row)).ToDictionary(p => p.epoch, p => p.row)).ToList();
            for (int e = 0; ; e++)
            {
                var have = Enumerable.Range(0, runs.Count).Where(k => rowOf[k].ContainsKey(e)).ToList();
                if (have.Count == 0) break;
                weights.Add(MeanPerClass(have.Select(k => runs[k].Weights[rowOf[k][e]]).ToArray()));
                f1.Add(MeanPerClass(have.Select(k => runs[k].ValidationF1[rowOf[k][e]]).ToArray()));
            }
            if (weights.Count == 0) continue;
            var dir = Path.Combine(outDir, m.Name);
            TrainingPlots.PerClassLines(Path.Combine(dir, "mean_weights.png"), $"{m.Name}: class weights per epoch (mean over {runs.Count} seeds)", "weight", weights, names);
            TrainingPlots.PerClassLines(Path.Combine(dir, "mean_val_f1.png"), $"{m.Name}: validation F1 per class (mean over {runs.Count} seeds)", "F1", f1, names);
        }
        MacroF1Bars(Path.Combine(outDir, "macro_f1.png"), results, split);
    }

    private static void MacroF1Bars(string path, IReadOnlyList<(ReproduceMethod Method, IReadOnlyList<ReproduceRunResult> Runs)> results, string split)
    {
        var plt = new ScottPlot.Plot();
        plt.Font.Set("DejaVu Sans");
        plt.Title(results[0].Runs.Count == 1 ? $"{Cap(split)} macro-F1 per method (one seed)" : $"{Cap(split)} macro-F1 per method (mean ± std over {results[0].Runs.Count} seeds)");
        plt.YLabel($"{split} macro-F1 (axis not from 0)");
        var palette = new ScottPlot.Palettes.Category10();
        var bars = results.Select((r, i) =>
        {
            var (mean, std) = MeanStd(r.Runs.Select(x => x.MacroF1).ToArray());
            return new ScottPlot.Bar { Position = i, Value = mean, Error = std, FillColor = palette.GetColor(r.Method.IsBaseline ? 0 : 1) };
        }).ToList();
        plt.Add.Bars(bars);
        var pos = Enumerable.Range(0, results.Count).Select(i => (double)i).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(pos, results.Select(r => r.Method.Name).ToArray());
        double lo = bars.Min(b => b.Value - b.Error), hi = bars.Max(b => b.Value + b.Error);
        plt.Axes.SetLimitsY(Math.Max(0, lo - 0.1 * (hi - lo + 0.01) - 0.02), Math.Min(1.0, hi + 0.02));
        plt.Axes.SetLimitsX(-0.6, results.Count - 0.4);
        TrainingPlots.SavePng(plt, path, Math.Max(700, 115 * results.Count), 560);
    }
}
