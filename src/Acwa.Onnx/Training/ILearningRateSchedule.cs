namespace Acwa.Onnx.Training;

/// <summary>
/// A learning-rate schedule, asked once per training step. Implementations are pure functions of their arguments, so a
/// resumed run gets exactly the rates an uninterrupted one gets.
/// </summary>
public interface ILearningRateSchedule
{
    /// <summary>Canonical description (e.g. <c>cosine:lr=0.001,min=0,warmup=1</c>).</summary>
    string Spec { get; }

    /// <summary>
    /// The learning rate of training step <paramref name="step"/> (0-based, counted over the whole run) of a run with
    /// <paramref name="totalSteps"/> steps and <paramref name="stepsPerEpoch"/> steps per epoch (both at least 1).
    /// </summary>
    double LearningRate(long step, long stepsPerEpoch, long totalSteps);
}
