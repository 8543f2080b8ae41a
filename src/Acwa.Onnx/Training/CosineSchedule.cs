using System.Globalization;

namespace Acwa.Onnx.Training;

/// <summary>Cosine annealing over the whole run: <c>min + (lr - min) (1 + cos(pi step / totalSteps)) / 2</c>.</summary>
public sealed class CosineSchedule : ILearningRateSchedule
{
    /// <summary>Creates the schedule; 0 &lt;= <paramref name="minLearningRate"/> &lt;= <paramref name="learningRate"/>.</summary>
    public CosineSchedule(double learningRate, double minLearningRate = 0)
    {
        LearningRateSchedules.CheckRate(learningRate, nameof(learningRate));
        if (!(minLearningRate >= 0 && minLearningRate <= learningRate))
            throw new ArgumentOutOfRangeException(nameof(minLearningRate), minLearningRate, $"the minimum rate must be in [0, {learningRate}]");
        Rate = learningRate; Min = minLearningRate;
    }

    /// <summary>Initial rate.</summary>
    public double Rate { get; }
    /// <summary>Final rate.</summary>
    public double Min { get; }

    /// <inheritdoc/>
    public string Spec => string.Create(CultureInfo.InvariantCulture, $"cosine:lr={Rate:R},min={Min:R}");

    /// <inheritdoc/>
    public double LearningRate(long step, long stepsPerEpoch, long totalSteps)
    {
        double t = Math.Clamp((double)step / Math.Max(1, totalSteps), 0, 1);
        return Min + (Rate - Min) * (1 + Math.Cos(Math.PI * t)) / 2;
    }
}
