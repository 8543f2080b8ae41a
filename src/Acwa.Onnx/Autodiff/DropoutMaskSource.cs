namespace Acwa.Onnx.Autodiff;

/// <summary>Where a training-mode Dropout gets its keep mask.</summary>
internal enum DropoutMaskSource
{
    /// <summary>
    /// A bool graph input (one per Dropout node, same shape as its input, true = keep) generated on the host from the
    /// checkpointed RNG, so a resumed run replays the same masks bit for bit: Y = X * Cast(mask) / (1 - ratio).
    /// </summary>
    HostInput,

    /// <summary>
    /// ONNX Dropout with training_mode = true and its mask output; masks come from ORT's generator, whose seed is fixed
    /// per session, so a resumed run does not replay the masks of an uninterrupted one.
    /// </summary>
    InGraph,
}
