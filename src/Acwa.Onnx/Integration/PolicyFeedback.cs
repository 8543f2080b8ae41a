using Acwa.Onnx.Metrics;
using Acwa.Onnx.Weighting;

namespace Acwa.Onnx.Integration;

/// <summary>Builds the <see cref="EpochFeedback"/> a class-weight policy needs from a report computed by the caller's own loop.</summary>
public static class PolicyFeedback
{
    /// <summary>
    /// Feedback of epoch <paramref name="epoch"/> (0-based) of a run of <paramref name="totalEpochs"/>: per-class F1,
    /// precision and recall and support from <paramref name="report"/> (a class absent from the split and never predicted
    /// reports 0, as the policies require), and <paramref name="trainCounts"/>, the training samples per class.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="trainCounts"/> has another length than the report's classes,
    /// a count is negative, or the epoch is outside [0, totalEpochs) (message from <see cref="EpochFeedback.Validate"/>).</exception>
    public static EpochFeedback FromReport(ClassificationReport report, ReadOnlySpan<long> trainCounts, int epoch, int totalEpochs,
        FeedbackSource source = FeedbackSource.Validation)
    {
        ArgumentNullException.ThrowIfNull(report);
        int c = report.Classes.Count;
        if (trainCounts.Length != c)
            throw new ArgumentException($"trainCounts has {trainCounts.Length} entries but the report has {c} classes", nameof(trainCounts));
        var feedback = new EpochFeedback(
            epoch, totalEpochs,
            report.Classes.Select(m => m.F1).ToArray(),
            report.Classes.Select(m => m.Precision).ToArray(),
            report.Classes.Select(m => m.Recall).ToArray(),
            report.Classes.Select(m => m.Support).ToArray(),
            trainCounts.ToArray(),
            source);
        feedback.Validate(c);
        return feedback;
    }

    /// <summary>
    /// One call per epoch for a user-owned loop: builds the feedback from <paramref name="report"/> and asks
    /// <paramref name="policy"/> for the next epoch's weights (a fresh array; see <see cref="IClassWeightPolicy.Update"/>).
    /// </summary>
    public static double[] NextWeights(this IClassWeightPolicy policy, ClassificationReport report, ReadOnlySpan<long> trainCounts, int epoch, int totalEpochs,
        FeedbackSource source = FeedbackSource.Validation)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Update(FromReport(report, trainCounts, epoch, totalEpochs, source));
    }
}
