namespace Acwa.Onnx.Training.Runtime;

/// <summary>What one evaluation batch returns to the host.</summary>
/// <remarks>
/// Both spans view buffers owned by the <see cref="StepRunner"/>: they stay valid until the next
/// <see cref="StepRunner.Evaluate(ReadOnlySpan{float}, int)"/> call or until the runner is disposed. Copy them to keep them.
/// </remarks>
public readonly ref struct EvalResult
{
    /// <summary>Creates a result.</summary>
    public EvalResult(ReadOnlySpan<float> logits, ReadOnlySpan<long> predictions, int batchSize, int numClasses)
    {
        Logits = logits;
        Predictions = predictions;
        BatchSize = batchSize;
        NumClasses = numClasses;
    }

    /// <summary>Row-major logits [batch, C]; empty when the eval graph has no logits output.</summary>
    public ReadOnlySpan<float> Logits { get; }

    /// <summary>Predicted class per sample; empty when the eval graph has no predictions output.</summary>
    public ReadOnlySpan<long> Predictions { get; }

    /// <summary>This batch's C x C confusion counts from the eval graph (row-major, rows = true class), when labels were
    /// given and the graph has a confusion output; else empty.</summary>
    public ReadOnlySpan<long> Confusion { get; init; }

    /// <summary>Number of samples evaluated.</summary>
    public int BatchSize { get; }

    /// <summary>Number of classes C.</summary>
    public int NumClasses { get; }
}
