using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.IO;
using Acwa.Onnx.Metrics;

namespace Acwa.Onnx.Training.Runs;

/// <summary>
/// The files of a run folder, each written atomically (temp file, then rename): metrics.csv / metrics.json /
/// weights.csv after every epoch, config.json, and at the end model.onnx, test_report.json and confusion_matrix.csv.
/// (The PNG plots are the command-line tool's.)
/// </summary>
public static class RunFolder
{
    /// <summary>metrics.csv, metrics.json and weights.csv for <paramref name="history"/>, one row per epoch.</summary>
    public static void WriteEpochFiles(string outDir, IReadOnlyList<EpochRecord> history, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(classNames);
        static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        static string Opt(double? v) => v is { } d ? R(d) : "";
        var csv = new StringBuilder("epoch,train_loss,train_accuracy,learning_rate,val_accuracy,val_balanced_accuracy,val_macro_f1,test_macro_f1,epoch_seconds,acwa_overhead_fraction");
        foreach (var n in classNames) csv.Append(",f1_").Append(Csv(n));
        csv.AppendLine();
        var weights = new StringBuilder("epoch");
        foreach (var n in classNames) weights.Append(",w_").Append(Csv(n));
        weights.AppendLine();
        foreach (var h in history)
        {
            int epoch = h.Epoch + 1;
            csv.Append(CultureInfo.InvariantCulture, $"{epoch},{R(h.TrainLoss)},{R(h.TrainAccuracy)},{R(h.LearningRate)},{R(h.ValidationAccuracy)},{R(h.ValidationBalancedAccuracy)},{R(h.ValidationMacroF1)},{Opt(h.TestMacroF1)},");
            csv.Append(Opt(h.Seconds)).Append(',').Append(Opt(h.AcwaOverheadFraction));
            foreach (var f in h.ValidationF1) csv.Append(',').Append(R(f));
            csv.AppendLine();
            weights.Append(epoch);
            foreach (var w in h.Weights) weights.Append(',').Append(R(w));
            weights.AppendLine();
        }
        AtomicFile.WriteAllText(Path.Combine(outDir, "metrics.csv"), csv.ToString());
        AtomicFile.WriteAllText(Path.Combine(outDir, "weights.csv"), weights.ToString());
        AtomicFile.WriteAllText(Path.Combine(outDir, "metrics.json"),
            new JsonArray(history.Select(h => (JsonNode)h.Json.DeepClone()).ToArray()).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>config.json: the run's options (<see cref="TrainingRunOptions.ToJson"/>), indented.</summary>
    public static void WriteConfig(string outDir, TrainingRunOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        AtomicFile.WriteAllText(Path.Combine(outDir, "config.json"), options.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>
    /// test_report.json (<see cref="ClassificationReport.ToJson"/>) and confusion_matrix.csv (rows: true class). With
    /// <paramref name="minorityClasses"/> (<see cref="Data.MinorityClasses"/>), test_report.json also has
    /// <c>minority</c>: <c>classes</c> (indices), <c>names</c>, <c>rule</c> (<paramref name="minorityRule"/>) and <c>f1</c>,
    /// their mean F1 (null when no class is a minority).
    /// </summary>
    public static void WriteTestReport(string outDir, ClassificationReport report, ConfusionMatrix confusion, IReadOnlyList<string> classNames,
        IReadOnlyList<int>? minorityClasses = null, string? minorityRule = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(confusion);
        ArgumentNullException.ThrowIfNull(classNames);
        var json = report.ToJson();
        if (minorityClasses is not null)
        {
            var node = JsonNode.Parse(json)!.AsObject();
            node["minority"] = new JsonObject
            {
                ["rule"] = minorityRule,
                ["classes"] = new JsonArray(minorityClasses.Select(c => (JsonNode)c).ToArray()),
                ["names"] = new JsonArray(minorityClasses.Select(c => (JsonNode)classNames[c]).ToArray()),
                ["f1"] = minorityClasses.Count == 0 ? null : report.MeanF1(minorityClasses),
            };
            json = node.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        }
        AtomicFile.WriteAllText(Path.Combine(outDir, "test_report.json"), json);
        var counts = confusion.ToArray();
        var csv = new StringBuilder("true\\predicted," + string.Join(",", classNames.Select(Csv)) + "\n");
        for (int i = 0; i < confusion.Classes; i++)
            csv.Append(Csv(classNames[i])).Append(',').AppendJoin(",", Enumerable.Range(0, confusion.Classes).Select(j => counts[i, j])).Append('\n');
        AtomicFile.WriteAllText(Path.Combine(outDir, "confusion_matrix.csv"), csv.ToString());
    }

    /// <summary>
    /// model.onnx: <paramref name="model"/> (the inference export with the trained weights) with the metadata
    /// <c>acwa eval</c> reads: class names (commas replaced by spaces) and, for images, the input normalisation (a model
    /// without it would be evaluated on unnormalised inputs). Returns the path.
    /// </summary>
    public static string WriteModel(string outDir, ModelProto model, IReadOnlyList<string> classNames, Data.Normalization? normalization)
    {
        ArgumentNullException.ThrowIfNull(model);
        var names = classNames.Select(n => n.Replace(',', ' ').Trim()).Select((n, i) => n.Length > 0 ? n : i.ToString(CultureInfo.InvariantCulture)).ToArray();
        new ClassifierMetadata(normalization, names).WriteTo(model);
        var path = Path.Combine(outDir, "model.onnx");
        OnnxModel.Save(model, path);
        return path;
    }

    private static string Csv(string s) => s.Replace(',', ' ').Replace('"', ' ');
}
