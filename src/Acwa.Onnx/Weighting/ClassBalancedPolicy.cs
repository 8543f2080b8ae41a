namespace Acwa.Onnx.Weighting;

/// <summary>
/// Static class-balanced weights (Cui et al. 2019, <see cref="ClassPriors.ClassBalanced"/>): effective number
/// <c>E_n = (1 - beta^n)/(1 - beta)</c>, <c>w_c = 1/E_{n_c}</c>, normalised to sum to C; a class with
/// <c>n_c = 0</c> gets 1 and is left out of the normalisation. Feedback is ignored.
/// Spec: <c>cb</c> or <c>cb:beta=0.999</c> (default beta 0.9999).
/// </summary>
public sealed class ClassBalancedPolicy : ClassWeightPolicy
{
    /// <summary>Default beta (best on imbalanced CIFAR-10 in Cui et al.).</summary>
    public const double DefaultBeta = 0.9999;

    private readonly double[] _static;

    /// <summary>Creates the policy from the training class counts.</summary>
    /// <param name="trainCounts">Training samples per class.</param>
    /// <param name="beta">In [0, 1).</param>
    public ClassBalancedPolicy(long[] trainCounts, double beta = DefaultBeta) : base(trainCounts?.Length ?? 0, trainCounts)
    {
        ClassPriors.CheckBeta(beta, nameof(beta));
        Beta = beta;
        _static = ClassPriors.ClassBalanced(trainCounts, beta);
        SetInitial((double[])_static.Clone());
    }

    /// <summary>The effective-number beta.</summary>
    public double Beta { get; }

    /// <inheritdoc />
    public override string Spec => $"cb:beta={PolicySpec.Num(Beta)}";

    private protected override double[] Step(EpochFeedback feedback) => (double[])_static.Clone();
}
