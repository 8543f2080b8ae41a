using System.CommandLine;
using System.Globalization;
using Acwa.Onnx.IO;
using Acwa.Onnx;
using Acwa.Onnx.Metrics;
using Spectre.Console;

namespace Acwa.Cli.Commands;

/// <summary>Plain options of <c>acwa metrics</c>; the logic never sees the parser.</summary>
internal sealed record MetricsOptions(
    string Labels,
    string? Logits = null,
    string? Predictions = null,
    int? Classes = null,
    IReadOnlyList<string>? Names = null,
    string? NamesFile = null,
    string? JsonOut = null,
    NanPolicy NanPolicy = NanPolicy.Throw);

/// <summary><c>acwa metrics</c>: confusion matrix and classification report from label and prediction/logit files.</summary>
internal static class MetricsCommand
{
    public static Command Create()
    {
        var labels = new Option<string>("--labels") { Description = "True labels: .npy (integer) or .csv (one integer per line).", Required = true };
        var logits = new Option<string?>("--logits") { Description = "Logits [N x C]: .npy (2-D float) or .csv (one row per sample). Prediction = argmax, ties to the lowest index." };
        var predictions = new Option<string?>("--predictions") { Description = "Predicted classes: .npy (integer) or .csv." };
        var classes = new Option<int?>("--classes") { Description = "Number of classes C (default: logits' second dimension, else max label/prediction + 1)." };
        var names = new Option<string?>("--names") { Description = "Comma-separated class names (C of them)." };
        var namesFile = new Option<string?>("--names-file") { Description = "File with one class name per line." };
        var json = new Option<string?>("--json") { Description = "Also write the report as JSON to this file." };
        var nan = new Option<NanPolicy>("--nan-policy")
        {
            Description = "Logit rows holding NaN: Throw (error naming the row) or CountAsWrong (counted as a miss of the true class).",
            DefaultValueFactory = _ => NanPolicy.Throw,
        };
        var cmd = new Command("metrics", "Confusion matrix and per-class precision / recall / F1 (scikit-learn conventions, zero_division=0).")
        {
            labels, logits, predictions, classes, names, namesFile, json, nan,
        };
        cmd.Subcommands.Add(CreateMerge());
        cmd.Validators.Add(r =>
        {
            bool hasLogits = r.GetResult(logits) is not null, hasPreds = r.GetResult(predictions) is not null;
            if (hasLogits == hasPreds) r.AddError("give exactly one of --logits or --predictions");
            if (r.GetResult(names) is not null && r.GetResult(namesFile) is not null) r.AddError("give at most one of --names or --names-file");
        });
        cmd.SetAction(pr =>
        {
            var o = new MetricsOptions(
                pr.GetValue(labels)!, pr.GetValue(logits), pr.GetValue(predictions), pr.GetValue(classes),
                pr.GetValue(names)?.Split(',', StringSplitOptions.TrimEntries), pr.GetValue(namesFile), pr.GetValue(json), pr.GetValue(nan));
            return Run(o, pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error);
        });
        return cmd;
    }

    /// <summary><c>acwa metrics merge PART... --json OUT</c>: the parts of a sharded <c>acwa eval</c> checked and summed exactly.</summary>
    private static Command CreateMerge()
    {
        var parts = new Argument<string[]>("parts") { Description = "The part files written by `acwa eval --shard I/N --json PART`, one per shard (shell globs welcome).", Arity = ArgumentArity.OneOrMore };
        var json = new Option<string?>("--json") { Description = "Write the merged report as JSON to this file (the same report as an unsharded `acwa eval --json`)." };
        var cmd = new Command("merge", "Merge the parts of a sharded `acwa eval`: refuses missing or duplicate shards, overlapping ranges, different models, datasets, splits or class lists (naming the part); otherwise sums the counts and prints the report of the whole.")
        {
            parts, json,
        };
        cmd.SetAction(pr => RunMerge(pr.GetValue(parts)!, pr.GetValue(json), pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error));
        return cmd;
    }

    /// <summary>Merges the part files; returns 0, or 2 after printing a one-line error naming the part at fault.</summary>
    public static int RunMerge(IReadOnlyList<string> partFiles, string? jsonOut, TextWriter output, TextWriter error)
    {
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var merged = Acwa.Onnx.Evaluation.EvaluationPart.Merge(partFiles.Select(Acwa.Onnx.Evaluation.EvaluationPart.Read).ToArray());
            var report = merged.Report();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"merged {partFiles.Count} part{(partFiles.Count == 1 ? "" : "s")}: model {merged.ModelFile} (sha256 {merged.ModelSha256[..12]}...), {merged.Split} split of {merged.Dataset.Spec}, {merged.Dataset.Samples} samples"));
            Print(report, merged.Matrix, ConsoleOutput.For(output));
            if (jsonOut is not null)
            {
                AtomicFile.WriteAllText(jsonOut, report.ToJson() + "\n");
                output.WriteLine($"report written to {jsonOut}");
            }
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"merge took {clock.Elapsed.TotalMilliseconds:0.0} ms"));
            return 0;
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            return ConsoleOutput.Fail(error, e.Message);
        }
    }

    /// <summary>Does the work; returns 0, or 2 after printing a one-line error.</summary>
    public static int Run(MetricsOptions o, TextWriter output, TextWriter error)
    {
        try
        {
            var report = Compute(o, out var matrix);
            Print(report, matrix, ConsoleOutput.For(output));
            if (o.JsonOut is not null)
            {
                AtomicFile.WriteAllText(o.JsonOut, report.ToJson() + "\n");
                output.WriteLine($"report written to {o.JsonOut}");
            }
            return 0;
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IOException or UnauthorizedAccessException or FormatException)
        {
            return ConsoleOutput.Fail(error, e.Message);
        }
    }

    /// <summary>Loads the inputs and computes the report.</summary>
    internal static ClassificationReport Compute(MetricsOptions o, out ConfusionMatrix matrix)
    {
        if ((o.Logits is null) == (o.Predictions is null)) throw new ArgumentException("give exactly one of --logits or --predictions");
        var labels = ReadInts(o.Labels);
        int? C = o.Classes;
        if (C is <= 0) throw new ArgumentException($"--classes must be positive, got {C}");
        if (o.Logits is not null)
        {
            var (x, cols) = ReadLogits(o.Logits);
            if (C is not null && C != cols) throw new ArgumentException($"{o.Logits}: logits have {cols} columns but --classes is {C}");
            C = cols;
            if (x.Length / Math.Max(cols, 1) != labels.Length)
                throw new ArgumentException($"{o.Logits} has {x.Length / Math.Max(cols, 1)} rows but {o.Labels} has {labels.Length} labels");
            matrix = new ConfusionMatrix(C.Value);
            var y = ToLabelInts(labels, C.Value, o.Labels);
            try { matrix.AccumulateLogits(y, x, o.NanPolicy); }
            catch (ArgumentException e) { throw new ArgumentException($"{o.Logits}: {FirstLine(e.Message).Replace($" (Parameter '{e.ParamName}')", "")}", e); }
        }
        else
        {
            var p = ReadInts(o.Predictions!);
            if (p.Length != labels.Length) throw new ArgumentException($"{o.Predictions} has {p.Length} predictions but {o.Labels} has {labels.Length} labels");
            C ??= (int)Math.Min(ConfusionMatrix.MaxClasses, Math.Max(labels.DefaultIfEmpty(0).Max(), p.DefaultIfEmpty(0).Max()) + 1);
            matrix = new ConfusionMatrix(C.Value);
            try { matrix.Accumulate(labels, p); }
            catch (ArgumentOutOfRangeException e)
            {
                string file = e.ParamName == "labels" ? o.Labels : o.Predictions!;
                throw new ArgumentException($"{file}: {FirstLine(e.Message)}");
            }
        }
        var names = o.Names ?? (o.NamesFile is null ? null
            : File.ReadAllLines(o.NamesFile).Where(l => l.Trim().Length > 0).Select(l => l.Trim()).ToArray());
        if (names is not null && names.Count != C)
            throw new ArgumentException($"{names.Count} class names given ({o.NamesFile ?? "--names"}) but there are {C} classes");
        return ClassificationReport.Create(matrix, names);
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    private static int[] ToLabelInts(long[] labels, int classes, string file)
    {
        var y = new int[labels.Length];
        for (int i = 0; i < y.Length; i++)
        {
            if ((ulong)labels[i] >= (ulong)classes) throw new ArgumentException($"{file}: label {i} = {labels[i]} is outside [0, {classes})");
            y[i] = (int)labels[i];
        }
        return y;
    }

    private static bool IsCsv(string path) => path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase);

    private static long[] ReadInts(string path)
    {
        if (IsCsv(path)) return CsvFile.ReadIntColumn(path);
        var a = NpyFile.Read(path);
        if (a.Shape.Count > 2 || (a.Shape.Count == 2 && a.Shape[1] != 1))
            throw new InvalidDataException($"{path}: expected a 1-D array of class indices, got shape ({string.Join(", ", a.Shape)})");
        return a.ToInt64Array();
    }

    private static (float[] Data, int Columns) ReadLogits(string path)
    {
        if (IsCsv(path))
        {
            var d = CsvFile.ReadFloatRows(path, out int cols);
            return (d, cols);
        }
        var a = NpyFile.Read(path);
        if (a.Shape.Count != 2) throw new InvalidDataException($"{path}: logits must be 2-D [N, C], got shape ({string.Join(", ", a.Shape)})");
        if (a.DType is not (NpyDType.Float32 or NpyDType.Float64)) throw new InvalidDataException($"{path}: logits must be float32 or float64, got {a.DType}");
        return (a.ToSingleArray(), checked((int)a.Shape[1]));
    }

    internal static void Print(ClassificationReport r, ConfusionMatrix m, IAnsiConsole console)
    {
        static string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);
        var t = new Table().AddColumns("class", "name", "precision", "recall", "f1", "support", "predicted");
        foreach (var c in r.Classes)
            t.AddRow(c.Index.ToString(CultureInfo.InvariantCulture), Markup.Escape(c.Name) + (c.IsAbsent ? " (absent)" : ""),
                F(c.Precision), F(c.Recall), F(c.F1), c.Support.ToString(CultureInfo.InvariantCulture), c.Predicted.ToString(CultureInfo.InvariantCulture));
        console.Write(t);
        var s = new Table().AddColumns("average", "precision", "recall", "f1");
        s.AddRow("macro (all C classes)", F(r.MacroPrecision), F(r.MacroRecall), F(r.MacroF1));
        s.AddRow("macro (present classes)", F(r.MacroPrecisionPresent), F(r.MacroRecallPresent), F(r.MacroF1Present));
        s.AddRow("micro", F(r.MicroPrecision), F(r.MicroRecall), F(r.MicroF1));
        s.AddRow("weighted", F(r.WeightedPrecision), F(r.WeightedRecall), F(r.WeightedF1));
        console.Write(s);
        console.WriteLine($"samples {r.Total}, classes {m.Classes}, accuracy {F(r.Accuracy)}, balanced accuracy {F(r.BalancedAccuracy)}");
        if (r.InvalidTotal > 0) console.WriteLine($"rows with NaN logits counted as wrong: {r.InvalidTotal}");
    }
}
