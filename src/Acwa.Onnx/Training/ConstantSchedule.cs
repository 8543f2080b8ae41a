using System.Globalization;

namespace Acwa.Onnx.Training;

/// <summary>The same learning rate at every step.</summary>
public sealed class ConstantSchedule : ILearningRateSchedule
{
    /// <summary>Creates the schedule; <paramref name="learningRate"/> must be finite and positive.</summary>
    public ConstantSchedule(double learningRate)
    {
        LearningRateSchedules.CheckRate(learningRate, nameof(learningRate));
        Rate = learningRate;
    }

    /// <summary>The rate.</summary>
    public double Rate { get; }

    /// <inheritdoc/>
    public string Spec => string.Create(CultureInfo.InvariantCulture, $"constant:lr={Rate:R}");

    /// <inheritdoc/>
    public double LearningRate(long step, long stepsPerEpoch, long totalSteps) => Rate;
}
