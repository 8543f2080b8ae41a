namespace Acwa.Onnx.Training;

/// <summary>
/// Training diverged by the trainer's divergence rule (<see cref="TrainerOptions.DivergenceFactor"/>): a step's loss was
/// NaN or infinite, or the mean loss of the recent steps rose above the factor times the reference loss. Training stops;
/// the last checkpoint written passed the rule (no checkpoint is ever written for a state it rejects) and stays intact; the
/// runner's in-memory state is the diverged one.
/// </summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception; <paramref name="reason"/> says which part of the rule fired, with its numbers.</summary>
    public TrainingDivergedException(string reason, int epoch, int batch, long globalStep, double loss, string? lastCheckpoint, int? lastCheckpointEpochs)
        : base($"training diverged at epoch {epoch + 1}, batch {batch + 1} (global step {globalStep}): {reason}; "
               + (lastCheckpoint is null ? "no checkpoint passed the rule, none was written"
                   : $"the last good checkpoint is '{lastCheckpoint}' ({lastCheckpointEpochs} finished epochs)")
               + "; a lower learning rate (or a warmup schedule) usually helps")
    {
        Reason = reason; Epoch = epoch; Batch = batch; GlobalStep = globalStep; Loss = loss; LastCheckpoint = lastCheckpoint;
    }

    /// <summary>Which part of the rule fired, with the numbers (e.g. "the loss is NaN").</summary>
    public string Reason { get; }
    /// <summary>0-based epoch of the step that tripped the rule.</summary>
    public int Epoch { get; }
    /// <summary>0-based batch within the epoch.</summary>
    public int Batch { get; }
    /// <summary>Global step number of the step that tripped the rule (1-based).</summary>
    public long GlobalStep { get; }
    /// <summary>The loss that tripped the rule: the step's (non-finite) loss, or the mean loss of the window.</summary>
    public double Loss { get; }
    /// <summary>Path of the last checkpoint written (it passed the rule), or null when none was written.</summary>
    public string? LastCheckpoint { get; }
}
