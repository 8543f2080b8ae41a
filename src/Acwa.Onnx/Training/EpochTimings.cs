namespace Acwa.Onnx.Training;

/// <summary>
/// Wall-clock seconds spent in the parts of one epoch. The ACWA overhead is what adaptive weighting adds to a plain
/// training epoch beyond the validation forward pass: building the confusion matrix and per-class metrics from the
/// validation predictions (<see cref="Metrics"/>) and the policy's weight update (<see cref="Policy"/>).
/// </summary>
/// <param name="Total">The whole epoch: training, validation, metrics, policy, test evaluation, checkpoint.</param>
/// <param name="Train">Training steps, including batch loading (not the mid-epoch checkpoints).</param>
/// <param name="ValidationForward">Eval-graph runs over the validation split (including batch loading).</param>
/// <param name="Metrics">Confusion matrix accumulation and the classification report of the validation split.</param>
/// <param name="Policy">The class-weight policy's update.</param>
/// <param name="Test">Test-split evaluation (0 unless evaluated this epoch).</param>
/// <param name="Checkpoint">Writing checkpoints: the epoch's and the mid-epoch ones (<see cref="TrainerOptions.CheckpointEverySteps"/>); 0 without any.</param>
public sealed record EpochTimings(double Total, double Train, double ValidationForward, double Metrics, double Policy, double Test, double Checkpoint)
{
    /// <summary>ACWA overhead in seconds: <see cref="Metrics"/> + <see cref="Policy"/>.</summary>
    public double AcwaOverhead => Metrics + Policy;

    /// <summary>ACWA overhead as a fraction of <see cref="Total"/> (0 when the total is 0).</summary>
    public double AcwaOverheadFraction => Total > 0 ? AcwaOverhead / Total : 0;
}
