namespace Acwa.Onnx.Training.Runtime;

/// <summary>What one training step returns to the host.</summary>
/// <remarks>
/// <see cref="Predictions"/> views a buffer owned by the <see cref="StepRunner"/>: it stays valid until the next
/// StepRunner.TrainStep call or until the runner is disposed. Copy it to keep it.
/// </remarks>
public readonly ref struct StepResult
{
    /// <summary>Creates a result.</summary>
    public StepResult(float loss, ReadOnlySpan<long> predictions, long step)
    {
        Loss = loss;
        Predictions = predictions;
        Step = step;
    }

    /// <summary>The step's loss (the training graph's scalar loss output, computed before the update).</summary>
    public float Loss { get; }

    /// <summary>Predicted class per sample of the batch (length = batch size); empty when the graph has no predictions output.</summary>
    public ReadOnlySpan<long> Predictions { get; }

    /// <summary>The runner's step count after this step (1 after the first step).</summary>
    public long Step { get; }
}
