using System.Globalization;

namespace Acwa.Onnx.Training;

/// <summary>
/// Linear warm-up in front of another schedule: during the first <c>W = round(warmupEpochs * stepsPerEpoch)</c> steps the
/// rate is <c>inner(step) * (step + 1) / W</c>, afterwards <c>inner(step)</c>.
/// </summary>
public sealed class WarmupSchedule : ILearningRateSchedule
{
    /// <summary>Wraps <paramref name="inner"/>; <paramref name="warmupEpochs"/> &gt;= 0 (0 = no warm-up; fractions allowed).</summary>
    public WarmupSchedule(ILearningRateSchedule inner, double warmupEpochs)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!(warmupEpochs >= 0) || double.IsInfinity(warmupEpochs)) throw new ArgumentOutOfRangeException(nameof(warmupEpochs), warmupEpochs, "warm-up epochs must be finite and >= 0");
        Inner = inner; WarmupEpochs = warmupEpochs;
    }

    /// <summary>The schedule after warm-up.</summary>
    public ILearningRateSchedule Inner { get; }
    /// <summary>Warm-up length in epochs.</summary>
    public double WarmupEpochs { get; }

    /// <inheritdoc/>
    public string Spec => string.Create(CultureInfo.InvariantCulture, $"{Inner.Spec},warmup={WarmupEpochs:R}");

    /// <inheritdoc/>
    public double LearningRate(long step, long stepsPerEpoch, long totalSteps)
    {
        double lr = Inner.LearningRate(step, stepsPerEpoch, totalSteps);
        long w = (long)Math.Round(WarmupEpochs * Math.Max(1, stepsPerEpoch));
        return step < w ? lr * (step + 1) / w : lr;
    }
}
