using Acwa.Onnx.Metrics;

namespace Acwa.Onnx.Evaluation;

/// <summary>The outcome of one <see cref="Evaluator"/> pass over a dataset.</summary>
/// <param name="Matrix">Confusion matrix (rows: true class, columns: predicted class) over the model's classes.</param>
/// <param name="Report">Per-class precision / recall / F1 and averages of <paramref name="Matrix"/>.</param>
/// <param name="Images">Images evaluated.</param>
/// <param name="Elapsed">Wall time of the pass (batch preparation, forward passes and metrics; not session creation).</param>
public sealed record EvaluationResult(ConfusionMatrix Matrix, ClassificationReport Report, long Images, TimeSpan Elapsed)
{
    /// <summary>Images per second of the pass (0 when nothing was evaluated).</summary>
    public double ImagesPerSecond => Images == 0 || Elapsed <= TimeSpan.Zero ? 0 : Images / Elapsed.TotalSeconds;
}
