namespace Acwa.Onnx.Weighting;

/// <summary>
/// Common part of the ACWA variants that move each weight by its class's F1 error centred on the mean F1
/// (<see cref="AcwaCenteredPolicy"/>, <see cref="AcwaMultiplicativePolicy"/>): after each epoch, with
/// <c>m = mean_c f_c</c> over all C classes, <c>u_c = Move(w_c, m - f_c)</c>, then the weights are rescaled to mean 1
/// and clipped to [w_min, w_max] when clipping is on.
/// </summary>
public abstract class CenteredF1Policy : ClassWeightPolicy
{
    private protected CenteredF1Policy(int numClasses, double eta, double minWeight, double maxWeight, bool clip)
        : base(numClasses, null)
    {
        AcwaPolicy.Require(eta >= 0 && double.IsFinite(eta), nameof(eta), eta, "must be finite and non-negative");
        WeightMath.CheckBounds(minWeight, maxWeight);
        (Eta, MinWeight, MaxWeight, Clip) = (eta, minWeight, maxWeight, clip);
    }

    /// <summary>Rate eta of the update.</summary>
    public double Eta { get; }
    /// <summary>Lower clip bound.</summary>
    public double MinWeight { get; }
    /// <summary>Upper clip bound.</summary>
    public double MaxWeight { get; }
    /// <summary>Whether the clip is applied.</summary>
    public bool Clip { get; }

    /// <summary>The policy's name in its spec (<c>acwa-centered</c>, <c>acwa-mult</c>).</summary>
    private protected abstract string Name { get; }

    /// <summary>The moved weight of a class with weight <paramref name="w"/> and centred error <paramref name="error"/> = m - f_c.</summary>
    private protected abstract double Move(double w, double error);

    /// <inheritdoc />
    public override string Spec =>
        $"{Name}:eta={PolicySpec.Num(Eta)},min={PolicySpec.Num(MinWeight)},max={PolicySpec.Num(MaxWeight)},clip={PolicySpec.OnOff(Clip)}";

    private protected override double[] Step(EpochFeedback feedback)
    {
        var f1 = feedback.F1;
        double mean = WeightMath.Mean(f1);
        var next = Current.ToArray();
        for (int c = 0; c < next.Length; c++)
            next[c] = Move(next[c], mean - f1[c]);
        WeightMath.NormaliseMean(next, Spec);
        if (Clip)
            WeightMath.Clip(next, MinWeight, MaxWeight);
        return next;
    }
}
