namespace Acwa.Onnx.Weighting;

/// <summary>Which split produced the per-class metrics in an <see cref="EpochFeedback"/>.</summary>
public enum FeedbackSource
{
    /// <summary>
    /// A held-out validation split carved from the training set (the default, and what the paper's pseudocode
    /// describes: <c>compute_f1_per_class(validation_data)</c>).
    /// </summary>
    Validation,

    /// <summary>
    /// The training data itself (what the paper's public code does, on mini-batches). Training F1 is optimistic and
    /// rises as the model memorises, so adaptive policies fed from it react less than from validation F1.
    /// </summary>
    Training,
}
