using System.Text.Json.Nodes;
using Acwa.Onnx.Metrics;

namespace Acwa.Onnx.Training;

/// <summary>What one epoch produced: for tables, CSV/JSON reports and plots.</summary>
/// <param name="Epoch">0-based epoch.</param>
/// <param name="TrainLoss">Mean training loss over the epoch's samples (each step's loss weighted by its batch size).</param>
/// <param name="TrainAccuracy">Fraction of training samples whose prediction (from the step's pre-update logits) was right.</param>
/// <param name="LearningRate">Learning rate of the epoch's last step.</param>
/// <param name="Weights">Class weights used during this epoch.</param>
/// <param name="NextWeights">Class weights the policy chose for the next epoch.</param>
/// <param name="Validation">Validation report (per-class precision / recall / F1, averages).</param>
/// <param name="ValidationConfusion">Validation confusion matrix.</param>
/// <param name="Test">Test report when the test split was evaluated this epoch, else null.</param>
/// <param name="GlobalStep">Training steps done in the whole run at the end of this epoch.</param>
/// <param name="Timings">Time spent in the parts of the epoch, with the ACWA overhead.</param>
public sealed record EpochResult(
    int Epoch,
    double TrainLoss,
    double TrainAccuracy,
    double LearningRate,
    double[] Weights,
    double[] NextWeights,
    ClassificationReport Validation,
    ConfusionMatrix ValidationConfusion,
    ClassificationReport? Test,
    long GlobalStep,
    EpochTimings Timings){
    /// <summary>
    /// A compact JSON summary (stored in checkpoints' history, for reports): epoch, losses, rates, weights, validation
    /// accuracy / balanced accuracy / macro-F1 / per-class F1, test macro-F1 when present, and the timings in seconds.
    /// </summary>
    public JsonObject ToJson()
    {
        static JsonArray Arr(IEnumerable<double> v) => new(v.Select(x => (JsonNode)JsonValue.Create(x)).ToArray());
        var o = new JsonObject
        {
            ["epoch"] = Epoch,
            ["train_loss"] = TrainLoss,
            ["train_accuracy"] = TrainAccuracy,
            ["learning_rate"] = LearningRate,
            ["global_step"] = GlobalStep,
            ["weights"] = Arr(Weights),
            ["next_weights"] = Arr(NextWeights),
            ["val_accuracy"] = Validation.Accuracy,
            ["val_balanced_accuracy"] = Validation.BalancedAccuracy,
            ["val_macro_f1"] = Validation.MacroF1,
            ["val_f1"] = Arr(Validation.Classes.Select(c => c.F1)),
            ["timings"] = new JsonObject
            {
                ["total"] = Timings.Total, ["train"] = Timings.Train, ["validation_forward"] = Timings.ValidationForward,
                ["metrics"] = Timings.Metrics, ["policy"] = Timings.Policy, ["test"] = Timings.Test, ["checkpoint"] = Timings.Checkpoint,
                ["acwa_overhead"] = Timings.AcwaOverhead, ["acwa_overhead_fraction"] = Timings.AcwaOverheadFraction,
            },
        };
        if (Test is not null)
        {
            o["test_accuracy"] = Test.Accuracy;
            o["test_macro_f1"] = Test.MacroF1;
        }
        return o;
    }
}
