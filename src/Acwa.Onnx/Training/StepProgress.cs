namespace Acwa.Onnx.Training;

/// <summary>Progress after one training step.</summary>
/// <param name="Epoch">0-based epoch.</param>
/// <param name="Batch">0-based batch within the epoch.</param>
/// <param name="BatchesPerEpoch">Batches in an epoch.</param>
/// <param name="GlobalStep">Training steps done in the whole run (1 after the first).</param>
/// <param name="Loss">This step's loss.</param>
/// <param name="LearningRate">The learning rate this step used.</param>
/// <param name="BatchSize">Samples in this batch.</param>
public sealed record StepProgress(int Epoch, int Batch, int BatchesPerEpoch, long GlobalStep, float Loss, double LearningRate, int BatchSize);
