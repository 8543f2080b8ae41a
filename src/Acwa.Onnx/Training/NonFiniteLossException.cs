namespace Acwa.Onnx.Training;

/// <summary>
/// A training step returned a NaN or infinite loss. Training stops; the last checkpoint written (at the end of the last
/// good epoch) is left intact, and the runner's in-memory state is the diverged one.
/// </summary>
public sealed class NonFiniteLossException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NonFiniteLossException(int epoch, int batch, long globalStep, float loss, string? lastCheckpoint)
        : base($"training diverged: loss is {loss} at epoch {epoch}, batch {batch} (global step {globalStep}); "
               + (lastCheckpoint is null ? "no checkpoint was written" : $"the last good checkpoint is '{lastCheckpoint}'"))
    {
        Epoch = epoch; Batch = batch; GlobalStep = globalStep; Loss = loss; LastCheckpoint = lastCheckpoint;
    }

    /// <summary>0-based epoch of the bad step.</summary>
    public int Epoch { get; }
    /// <summary>0-based batch within the epoch.</summary>
    public int Batch { get; }
    /// <summary>Global step number of the bad step (1-based).</summary>
    public long GlobalStep { get; }
    /// <summary>The loss value (NaN or infinite).</summary>
    public float Loss { get; }
    /// <summary>Path of the last good checkpoint, or null when none was written.</summary>
    public string? LastCheckpoint { get; }
}
