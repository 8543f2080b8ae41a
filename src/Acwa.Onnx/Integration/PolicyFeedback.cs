using Acwa.Onnx.Metrics;
using Acwa.Onnx.Weighting;

namespace Acwa.Onnx.Integration;

/// <summary>
/// A class-weight policy fed from a report computed by the caller's own loop (the feedback is
/// <see cref="EpochFeedback.FromReport"/>, the one conversion from a report).
/// </summary>
public static class PolicyFeedback
{
    /// <summary>
    /// One call per epoch for a user-owned loop: builds the feedback from <paramref name="report"/> and asks
    /// <paramref name="policy"/> for the next epoch's weights (a fresh array; see <see cref="IClassWeightPolicy.Update"/>).
    /// </summary>
    public static double[] NextWeights(this IClassWeightPolicy policy, ClassificationReport report, ReadOnlySpan<long> trainCounts, int epoch, int totalEpochs,
        FeedbackSource source = FeedbackSource.Validation)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Update(EpochFeedback.FromReport(epoch, totalEpochs, report, trainCounts, source));
    }
}
