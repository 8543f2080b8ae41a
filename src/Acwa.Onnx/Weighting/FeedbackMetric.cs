namespace Acwa.Onnx.Weighting;

/// <summary>Which per-class metric of <see cref="EpochFeedback"/> an adaptive policy follows.</summary>
public enum FeedbackMetric
{
    /// <summary>Per-class F1 (<see cref="EpochFeedback.F1"/>), spec <c>metric=f1</c>.</summary>
    F1,
    /// <summary>Per-class recall (<see cref="EpochFeedback.Recall"/>), spec <c>metric=recall</c>.</summary>
    Recall,
}
