namespace Acwa.Onnx.Training;

/// <summary>
/// A run was cancelled (<see cref="Trainer.Run"/>'s token: Ctrl-C, SIGTERM, a caller's timeout). The trainer stops at the
/// next step boundary (the step in flight finishes) and, when it has a <see cref="TrainerOptions.CheckpointPath"/>, writes a
/// checkpoint of exactly that point first, so <see cref="Trainer.Resume"/> continues with the next step and ends as an
/// uninterrupted run would.
/// </summary>
public sealed class TrainingInterruptedException : OperationCanceledException
{
    /// <summary>Creates the exception.</summary>
    public TrainingInterruptedException(int epoch, int nextBatch, int batchesPerEpoch, long globalStep, string? checkpoint, CancellationToken token)
        : base((checkpoint is null
                ? $"interrupted in epoch {epoch + 1} before batch {nextBatch + 1}/{batchesPerEpoch} (global step {globalStep}); no checkpoint path is set, nothing was saved"
                : $"interrupted in epoch {epoch + 1} before batch {nextBatch + 1}/{batchesPerEpoch} (global step {globalStep}); checkpoint written to '{checkpoint}'"), token)
    {
        Epoch = epoch; NextBatch = nextBatch; GlobalStep = globalStep; Checkpoint = checkpoint;
    }

    /// <summary>0-based epoch that was in progress (equal to the epoch count when only the final test evaluation was left).</summary>
    public int Epoch { get; }
    /// <summary>0-based batch the resumed run starts with (the batches per epoch when only the epoch's validation was left).</summary>
    public int NextBatch { get; }
    /// <summary>Training steps done.</summary>
    public long GlobalStep { get; }
    /// <summary>The checkpoint written at the interruption, or null when the trainer has no checkpoint path.</summary>
    public string? Checkpoint { get; }
}
