using Acwa.Onnx.Metrics;

namespace Acwa.Onnx.Training;

/// <summary>The outcome of <see cref="Trainer.Run"/>.</summary>
/// <param name="Epochs">Results of the epochs run by this call (after a resume: only the epochs after the checkpoint).</param>
/// <param name="Test">Final test report, or null without a test split.</param>
/// <param name="TestConfusion">Final test confusion matrix, or null.</param>
/// <param name="FinalWeights">The policy's weights after the last update.</param>
/// <param name="Seconds">Wall-clock seconds of the call.</param>
public sealed record TrainingResult(IReadOnlyList<EpochResult> Epochs, ClassificationReport? Test, ConfusionMatrix? TestConfusion, double[] FinalWeights, double Seconds);
