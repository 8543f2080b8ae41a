using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Acwa.Onnx.Training.Runs;

/// <summary>
/// One epoch's summary as it is kept in checkpoints and run folders (the JSON of <see cref="EpochResult.ToJson"/>), typed:
/// what <see cref="RunFolder"/> writes to metrics.csv, metrics.json and weights.csv.
/// </summary>
/// <param name="Epoch">0-based epoch.</param>
/// <param name="TrainLoss">Mean training loss of the epoch.</param>
/// <param name="TrainAccuracy">Training accuracy of the epoch (pre-update predictions).</param>
/// <param name="LearningRate">Learning rate of the epoch's last step.</param>
/// <param name="ValidationAccuracy">Validation accuracy.</param>
/// <param name="ValidationBalancedAccuracy">Validation balanced accuracy.</param>
/// <param name="ValidationMacroF1">Validation macro-F1.</param>
/// <param name="ValidationF1">Validation F1 per class.</param>
/// <param name="Weights">Class weights used during the epoch.</param>
/// <param name="TestMacroF1">Test macro-F1 when the test split was evaluated this epoch, else null.</param>
/// <param name="Seconds">Wall-clock seconds of the epoch, or null when not recorded.</param>
/// <param name="AcwaOverheadFraction">Share of the epoch spent on validation metrics and the weight update, or null.</param>
/// <param name="Json">The record as stored (its other fields, e.g. the detailed timings, stay available).</param>
public sealed record EpochRecord(int Epoch, double TrainLoss, double TrainAccuracy, double LearningRate, double ValidationAccuracy,
    double ValidationBalancedAccuracy, double ValidationMacroF1, IReadOnlyList<double> ValidationF1, IReadOnlyList<double> Weights,
    double? TestMacroF1, double? Seconds, double? AcwaOverheadFraction, JsonObject Json)
{
    /// <summary>The record of a finished epoch.</summary>
    public static EpochRecord From(EpochResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return FromJson(r.ToJson());
    }

    /// <summary>Reads a record written by <see cref="EpochResult.ToJson"/> (a checkpoint's history entry).</summary>
    /// <exception cref="InvalidDataException">A field is missing or has the wrong type; the message names it.</exception>
    public static EpochRecord FromJson(JsonObject o)
    {
        ArgumentNullException.ThrowIfNull(o);
        double Num(string key) => Number(o[key]) ?? throw new InvalidDataException($"epoch record: '{key}' is missing or not a number");
        double? Opt(JsonNode? n) => Number(n);
        double[] Arr(string key) => (o[key] as JsonArray ?? throw new InvalidDataException($"epoch record: '{key}' is missing or not an array"))
            .Select(n => Number(n) ?? throw new InvalidDataException($"epoch record: '{key}' holds a value that is not a number")).ToArray();
        var timings = o["timings"] as JsonObject;
        return new EpochRecord((int)Num("epoch"), Num("train_loss"), Num("train_accuracy"), Num("learning_rate"), Num("val_accuracy"),
            Num("val_balanced_accuracy"), Num("val_macro_f1"), Arr("val_f1"), Arr("weights"), Opt(o["test_macro_f1"]),
            Opt(timings?["total"]), Opt(timings?["acwa_overhead_fraction"]), (JsonObject)o.DeepClone());
    }

    /// <summary>A JSON number as a double (whatever .NET type the node was built from), else null.</summary>
    private static double? Number(JsonNode? n) =>
        n is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture) : null;
}
