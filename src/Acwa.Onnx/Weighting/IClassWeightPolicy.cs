using System.Text.Json.Nodes;

namespace Acwa.Onnx.Weighting;

/// <summary>
/// A rule that sets the per-class loss weights: constructed with what it needs before epoch 0 (class counts,
/// planned epochs), it holds the weights for the next epoch in <see cref="Current"/> and moves them once per
/// epoch from that epoch's per-class feedback.
/// </summary>
/// <remarks>
/// Weights are doubles on the host; the trainer converts them to a float[C] tensor (the <c>class_weights</c>
/// control input). A trainer calls <see cref="Update"/> once after every epoch, in order, also for policies that
/// ignore feedback (a schedule such as DRW counts epochs through it). Policies are deterministic: the same
/// construction and the same feedback sequence give bit-identical weights, and
/// <see cref="SaveState"/>/<see cref="LoadState"/> carry everything needed to continue exactly. Instances are not
/// thread-safe; one trainer drives one policy.
/// </remarks>
public interface IClassWeightPolicy
{
    /// <summary>
    /// Canonical spec with every option spelled out (e.g. <c>acwa:alpha=0.02,beta=0.9,...</c>);
    /// <see cref="PolicyFactory.Create"/> on it recreates an identical policy.
    /// </summary>
    string Spec { get; }

    /// <summary>Number of classes C.</summary>
    int NumClasses { get; }

    /// <summary>
    /// The weights for the next epoch (before any update: the weights of epoch 0). The span views the policy's own
    /// buffer and is valid until the next <see cref="Update"/> or <see cref="LoadState"/>; copy it to keep it.
    /// </summary>
    ReadOnlySpan<double> Current { get; }

    /// <summary>The last epoch whose feedback was applied, or -1 before the first <see cref="Update"/>.</summary>
    int LastEpoch { get; }

    /// <summary>
    /// Applies the feedback of the epoch that has just finished and returns the weights for the next epoch
    /// (a fresh array the caller owns; equal to <see cref="Current"/> afterwards).
    /// </summary>
    /// <exception cref="ArgumentException">The feedback is invalid (see <see cref="EpochFeedback.Validate"/>), has
    /// another number of classes, or its epoch is not after <see cref="LastEpoch"/>.</exception>
    double[] Update(EpochFeedback feedback);

    /// <summary>
    /// The policy's full state as JSON: its spec, weights and any internal memory. Doubles are written in
    /// shortest round-trip form, so <see cref="LoadState"/> restores them bit for bit, also after the object has
    /// been written to text and parsed again.
    /// </summary>
    JsonObject SaveState();

    /// <summary>
    /// Restores a state saved by <see cref="SaveState"/> of a policy with the same <see cref="Spec"/> and
    /// number of classes.
    /// </summary>
    /// <exception cref="ArgumentException">The state is malformed, or was saved by a policy with another spec or
    /// number of classes (the message names the field and both values).</exception>
    void LoadState(JsonObject state);
}
