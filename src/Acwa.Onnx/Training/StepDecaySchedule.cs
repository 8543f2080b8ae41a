using System.Globalization;

namespace Acwa.Onnx.Training;

/// <summary>Step decay: <c>lr * gamma^floor(epoch / every)</c>, where epoch = floor(step / stepsPerEpoch) (PyTorch's StepLR per epoch).</summary>
public sealed class StepDecaySchedule : ILearningRateSchedule
{
    /// <summary>Creates the schedule. <paramref name="everyEpochs"/> &gt;= 1; <paramref name="gamma"/> in (0, 1].</summary>
    public StepDecaySchedule(double learningRate, int everyEpochs, double gamma)
    {
        LearningRateSchedules.CheckRate(learningRate, nameof(learningRate));
        ArgumentOutOfRangeException.ThrowIfLessThan(everyEpochs, 1);
        if (!(gamma > 0 && gamma <= 1)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "gamma must be in (0, 1]");
        Rate = learningRate; Every = everyEpochs; Gamma = gamma;
    }

    /// <summary>Initial rate.</summary>
    public double Rate { get; }
    /// <summary>Epochs between decays.</summary>
    public int Every { get; }
    /// <summary>Decay factor.</summary>
    public double Gamma { get; }

    /// <inheritdoc/>
    public string Spec => string.Create(CultureInfo.InvariantCulture, $"step:lr={Rate:R},every={Every},gamma={Gamma:R}");

    /// <inheritdoc/>
    public double LearningRate(long step, long stepsPerEpoch, long totalSteps) =>
        Rate * Math.Pow(Gamma, step / Math.Max(1, stepsPerEpoch) / Every);
}
