namespace Acwa.Onnx.Weighting;

/// <summary>
/// A policy that, besides the class weights, moves the per-class logit offsets of the logit-adjusted loss: the full
/// adjusted log prior that the trainer puts into the training graph's <c>log_prior</c> control
/// (<see cref="Training.ControlRoles.LogPrior"/>) at the start of every epoch, where the loss adds
/// <c>tau * LogitOffsets[c]</c> to the logits.
/// </summary>
/// <remarks>
/// The offsets follow the same life cycle as <see cref="IClassWeightPolicy.Current"/>: those of epoch 0 before any
/// update, those of epoch <c>e + 1</c> after the update with epoch e's feedback, and
/// <see cref="IClassWeightPolicy.SaveState"/>/<see cref="IClassWeightPolicy.LoadState"/> restore them exactly. A trainer
/// refuses such a policy on a training graph without a <c>log_prior</c> control (a loss other than logit adjustment).
/// </remarks>
public interface ILogitOffsetPolicy : IClassWeightPolicy
{
    /// <summary>
    /// The logit offsets for the next epoch, one per class (the <c>log_prior</c> values, before the loss's tau). The span
    /// views the policy's own buffer and is valid until the next <see cref="IClassWeightPolicy.Update"/> or
    /// <see cref="IClassWeightPolicy.LoadState"/>; copy it to keep it.
    /// </summary>
    ReadOnlySpan<double> LogitOffsets { get; }
}
