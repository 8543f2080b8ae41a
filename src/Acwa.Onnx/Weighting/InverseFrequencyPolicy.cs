namespace Acwa.Onnx.Weighting;

/// <summary>
/// Static inverse-frequency weights normalised to mean 1 (<see cref="ClassPriors.InverseFrequency"/>):
/// <c>w_c = C (1/n_c) / sum_j (1/n_j)</c>; a class with <c>n_c = 0</c> gets 1 and is left out of the
/// normalisation. Feedback is ignored. Spec: <c>inv</c>.
/// </summary>
public sealed class InverseFrequencyPolicy : ClassWeightPolicy
{
    private readonly double[] _static;

    /// <summary>Creates the policy from the training class counts.</summary>
    public InverseFrequencyPolicy(long[] trainCounts) : base(trainCounts?.Length ?? 0, trainCounts)
    {
        _static = ClassPriors.InverseFrequency(trainCounts);
        SetInitial((double[])_static.Clone());
    }

    /// <inheritdoc />
    public override string Spec => "inv";

    private protected override double[] Step(EpochFeedback feedback) => (double[])_static.Clone();
}
