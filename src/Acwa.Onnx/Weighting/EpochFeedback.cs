using Acwa.Onnx.Metrics;

namespace Acwa.Onnx.Weighting;

/// <summary>
/// What a class-weight policy learns at the end of one epoch: per-class metrics of the split named by
/// <see cref="Source"/>, and the class counts of the training set.
/// </summary>
/// <param name="Epoch">The 0-based epoch that has just finished; the weights returned by
/// <see cref="IClassWeightPolicy.Update"/> are used in epoch <c>Epoch + 1</c>.</param>
/// <param name="TotalEpochs">Planned number of epochs of the run (at least <c>Epoch + 1</c>).</param>
/// <param name="F1">Per-class F1 in [0, 1]. A class with no support and no predictions must be reported as 0
/// (scikit-learn's <c>zero_division=0</c>); NaN is rejected.</param>
/// <param name="Precision">Per-class precision in [0, 1] (same convention as <paramref name="F1"/>).</param>
/// <param name="Recall">Per-class recall in [0, 1] (same convention as <paramref name="F1"/>).</param>
/// <param name="Support">Per-class number of true samples in the split that produced <paramref name="F1"/>
/// (the validation support when <see cref="Source"/> is <see cref="FeedbackSource.Validation"/>).</param>
/// <param name="TrainCounts">Per-class number of training samples.</param>
/// <param name="Source">Which split produced the metrics; validation unless stated otherwise.</param>
public sealed record EpochFeedback(
    int Epoch,
    int TotalEpochs,
    double[] F1,
    double[] Precision,
    double[] Recall,
    long[] Support,
    long[] TrainCounts,
    FeedbackSource Source = FeedbackSource.Validation)
{
    /// <summary>
    /// Feedback from a <see cref="ClassificationReport"/> of the split named by <paramref name="source"/>: its
    /// per-class F1, precision, recall and support (same zero-division convention: ill-defined ratios are 0).
    /// </summary>
    /// <param name="epoch">The 0-based epoch that has just finished.</param>
    /// <param name="totalEpochs">Planned number of epochs.</param>
    /// <param name="report">Metrics of the feedback split.</param>
    /// <param name="trainCounts">Training samples per class (copied).</param>
    /// <param name="source">Which split the report comes from; validation unless stated otherwise.</param>
    /// <exception cref="ArgumentException">The report and <paramref name="trainCounts"/> disagree on the number of classes, a
    /// count is negative, or the epoch is outside [0, totalEpochs) (<see cref="Validate"/>).</exception>
    public static EpochFeedback FromReport(int epoch, int totalEpochs, ClassificationReport report, ReadOnlySpan<long> trainCounts,
        FeedbackSource source = FeedbackSource.Validation)
    {
        ArgumentNullException.ThrowIfNull(report);
        var classes = report.Classes;
        if (classes.Count != trainCounts.Length)
            throw new ArgumentException($"trainCounts has {trainCounts.Length} entries but the report has {classes.Count} classes", nameof(trainCounts));
        var feedback = new EpochFeedback(epoch, totalEpochs,
            classes.Select(m => m.F1).ToArray(),
            classes.Select(m => m.Precision).ToArray(),
            classes.Select(m => m.Recall).ToArray(),
            classes.Select(m => m.Support).ToArray(),
            trainCounts.ToArray(),
            source);
        feedback.Validate(classes.Count);
        return feedback;
    }

    /// <summary>Number of classes, from <see cref="F1"/>'s length.</summary>
    public int NumClasses => F1.Length;

    /// <summary>
    /// Checks that every array has <paramref name="numClasses"/> entries, that metrics are finite and in [0, 1],
    /// that counts are non-negative and that <see cref="Epoch"/> lies in [0, <see cref="TotalEpochs"/>).
    /// </summary>
    /// <exception cref="ArgumentException">Naming the field, the class index and the value that is wrong.</exception>
    public void Validate(int numClasses)
    {
        ArgumentNullException.ThrowIfNull(F1);
        ArgumentNullException.ThrowIfNull(Precision);
        ArgumentNullException.ThrowIfNull(Recall);
        ArgumentNullException.ThrowIfNull(Support);
        ArgumentNullException.ThrowIfNull(TrainCounts);
        if (Epoch < 0 || Epoch >= TotalEpochs)
            throw new ArgumentException($"EpochFeedback.Epoch {Epoch} is outside [0, TotalEpochs = {TotalEpochs}).");
        if (!Enum.IsDefined(Source))
            throw new ArgumentException($"EpochFeedback.Source {(int)Source} is not a defined FeedbackSource.");
        CheckUnit(nameof(F1), F1, numClasses);
        CheckUnit(nameof(Precision), Precision, numClasses);
        CheckUnit(nameof(Recall), Recall, numClasses);
        CheckCounts(nameof(Support), Support, numClasses);
        CheckCounts(nameof(TrainCounts), TrainCounts, numClasses);
    }

    private static void CheckUnit(string field, double[] values, int numClasses)
    {
        if (values.Length != numClasses)
            throw new ArgumentException($"EpochFeedback.{field} has {values.Length} entries; the policy has {numClasses} classes.");
        for (int c = 0; c < values.Length; c++)
        {
            if (!(values[c] >= 0 && values[c] <= 1))
                throw new ArgumentException($"EpochFeedback.{field}[{c}] = {values[c]:R} is not in [0, 1].");
        }
    }

    private static void CheckCounts(string field, long[] values, int numClasses)
    {
        if (values.Length != numClasses)
            throw new ArgumentException($"EpochFeedback.{field} has {values.Length} entries; the policy has {numClasses} classes.");
        for (int c = 0; c < values.Length; c++)
        {
            if (values[c] < 0)
                throw new ArgumentException($"EpochFeedback.{field}[{c}] = {values[c]} is negative.");
        }
    }
}
