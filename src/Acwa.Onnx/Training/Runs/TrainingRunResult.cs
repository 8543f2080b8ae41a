using Acwa.Onnx.Metrics;

namespace Acwa.Onnx.Training.Runs;

/// <summary>What a finished <see cref="TrainingRun"/> produced.</summary>
/// <param name="OutDir">The run folder (absolute).</param>
/// <param name="Test">The final model's test report, or null when the run has no test split.</param>
/// <param name="TestConfusion">The final model's test confusion matrix, or null.</param>
/// <param name="History">Every epoch of the run, including those done before a resume.</param>
/// <param name="FinalWeights">The policy's class weights after the last update.</param>
/// <param name="Seconds">Wall-clock seconds of this invocation's training.</param>
public sealed record TrainingRunResult(string OutDir, ClassificationReport? Test, ConfusionMatrix? TestConfusion,
    IReadOnlyList<EpochRecord> History, double[] FinalWeights, double Seconds);
