namespace Acwa.Onnx.Weighting;

/// <summary>Uniform weights: <c>w_c = 1</c> for every class and every epoch (plain cross-entropy). Spec: <c>uniform</c>.</summary>
public sealed class UniformPolicy : ClassWeightPolicy
{
    /// <summary>Creates the policy for <paramref name="numClasses"/> classes.</summary>
    public UniformPolicy(int numClasses) : base(numClasses, null) { }

    /// <inheritdoc />
    public override string Spec => "uniform";

    private protected override double[] Step(EpochFeedback feedback) => Ones(NumClasses);

    internal static double[] Ones(int n)
    {
        var w = new double[n];
        Array.Fill(w, 1.0);
        return w;
    }
}
