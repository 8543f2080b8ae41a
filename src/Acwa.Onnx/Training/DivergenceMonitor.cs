using System.Globalization;
using System.Text.Json.Nodes;

namespace Acwa.Onnx.Training;

/// <summary>
/// The trainer's divergence rule and its state. A run diverges when a step's loss is NaN or infinite, or when the mean loss
/// of the last <c>W</c> steps, or of the epoch so far, exceeds <c>k * L0</c>: <c>k</c> is
/// <see cref="TrainerOptions.DivergenceFactor"/>, <c>W</c> is <see cref="TrainerOptions.DivergenceWindow"/> (at most an
/// epoch's batches) and <c>L0 = max(loss of the run's first step, ln C)</c>, the loss of the untrained model (ln C, the
/// cross-entropy of a uniform prediction, keeps a near-perfect pretrained model's tiny first loss from making noise look
/// like divergence). The state (L0 and the window's losses) goes into every checkpoint, so a resumed run judges exactly as
/// an uninterrupted one.
/// </summary>
internal sealed class DivergenceMonitor(double factor, int window, int numClasses)
{
    private readonly double _floor = Math.Log(Math.Max(2, numClasses));
    private readonly Queue<double> _recent = new();

    /// <summary>L0, set by the run's first step; null before it.</summary>
    public double? Reference { get; private set; }

    /// <summary>Takes one step's loss; returns why the rule rejects the run now, or null.</summary>
    public string? Observe(float loss)
    {
        if (!float.IsFinite(loss)) return $"the step's loss is {loss.ToString(CultureInfo.InvariantCulture)}";
        Reference ??= Math.Max(loss, _floor);
        _recent.Enqueue(loss);
        if (_recent.Count > window) _recent.Dequeue();
        return _recent.Count == window ? Check(_recent.Average(), $"the mean loss of the last {window} steps") : null;
    }

    /// <summary>Why the rule rejects a mean loss (<paramref name="what"/> names it in the message), or null.</summary>
    public string? Check(double meanLoss, string what)
    {
        if (!double.IsFinite(meanLoss)) return $"{what} is {meanLoss.ToString(CultureInfo.InvariantCulture)}";
        if (factor <= 0 || Reference is not { } l0 || meanLoss <= factor * l0) return null;
        return string.Create(CultureInfo.InvariantCulture,
            $"{what} is {meanLoss:G4}, above {factor:G4} x the reference loss {l0:G4} (the larger of the first step's loss and ln {numClasses})");
    }

    public JsonObject Save() => new()
    {
        ["reference"] = Reference,
        ["recent"] = new JsonArray(_recent.Select(v => (JsonNode)JsonValue.Create(v)).ToArray()),
    };

    public void Load(JsonObject? state)
    {
        _recent.Clear();
        Reference = null;
        if (state is null) return; // a checkpoint from before the rule: the next step sets L0
        Reference = state["reference"]?.GetValue<double>();
        if (state["recent"] is JsonArray recent)
            foreach (var v in recent.TakeLast(window)) _recent.Enqueue(v!.GetValue<double>());
    }
}
