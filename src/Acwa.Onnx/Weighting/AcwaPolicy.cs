namespace Acwa.Onnx.Weighting;

/// <summary>
/// ACWA exactly as the paper states it. After each epoch, for every class c with F1 <c>f_c</c>:
/// <code>w_c &lt;- clip( beta*w_c + (1 - beta)*(w_c + alpha*(f_target - f_c)), w_min, w_max )</code>
/// with the clip applied only when <see cref="Clip"/> is on. Defaults: alpha 0.02, beta 0.9, f_target 1.0,
/// [w_min, w_max] = [0.5, 2.0], clipping on, every weight starting at 1.0.
/// Spec: <c>acwa</c>, with options <c>alpha</c>, <c>beta</c>, <c>target</c>, <c>min</c>, <c>max</c>,
/// <c>clip=on|off</c>, <c>init</c>; the paper's ablations are <c>acwa:beta=0</c>, <c>acwa:clip=off</c> and
/// <c>acwa:alpha=0.1</c>.
/// </summary>
/// <remarks>
/// <para>Arithmetic facts the paper does not spell out (see docs/policies.md): the right-hand side equals
/// <c>w_c + (1 - beta)*alpha*(f_target - f_c)</c>, so beta only rescales the step to <c>(1 - beta)*alpha</c>
/// (0.002 by default) and the coefficient on <c>w_c</c> is exactly 1 (no fixed point unless <c>f_c = f_target</c>).
/// With <c>f_target = 1</c> the error is never negative, so the weights never fall: after 100 epochs they lie in
/// [1.0, 1.2] and the default clip bounds are never reached.</para>
/// <para>The update is evaluated in that algebraically identical form, <c>w + ((1 - beta)*alpha)*e</c>: it is the
/// same real number, and unlike the literal form (where <c>beta*w + (1 - beta)*w</c> can round one ulp below
/// <c>w</c>) it keeps "never falls when e &gt;= 0" true in floating point. The two differ by at most a few ulps.
/// With clipping off nothing keeps a weight positive; with the paper's f_target = 1 none ever decreases.</para>
/// </remarks>
public sealed class AcwaPolicy : ClassWeightPolicy
{
    /// <summary>Creates the paper's rule; the defaults are the paper's.</summary>
    /// <param name="numClasses">Number of classes.</param>
    /// <param name="alpha">Step size (finite).</param>
    /// <param name="beta">"Smoothing" factor in [0, 1].</param>
    /// <param name="target">Target F1 (finite).</param>
    /// <param name="minWeight">Lower clip bound.</param>
    /// <param name="maxWeight">Upper clip bound (at least <paramref name="minWeight"/>).</param>
    /// <param name="clip">Whether the clip is applied.</param>
    /// <param name="initial">Starting weight of every class; within the clip bounds when clipping is on.</param>
    public AcwaPolicy(int numClasses, double alpha = 0.02, double beta = 0.9, double target = 1.0,
        double minWeight = 0.5, double maxWeight = 2.0, bool clip = true, double initial = 1.0)
        : base(numClasses, null)
    {
        Require(double.IsFinite(alpha), nameof(alpha), alpha, "must be finite");
        Require(beta >= 0 && beta <= 1, nameof(beta), beta, "must lie in [0, 1]");
        Require(double.IsFinite(target), nameof(target), target, "must be finite");
        Require(double.IsFinite(minWeight), nameof(minWeight), minWeight, "must be finite");
        Require(double.IsFinite(maxWeight) && maxWeight >= minWeight, nameof(maxWeight), maxWeight, $"must be finite and at least minWeight = {minWeight:R}");
        Require(double.IsFinite(initial), nameof(initial), initial, "must be finite");
        if (clip)
            Require(initial >= minWeight && initial <= maxWeight, nameof(initial), initial, $"must lie in the clip range [{minWeight:R}, {maxWeight:R}]");
        (Alpha, Beta, Target, MinWeight, MaxWeight, Clip, Initial) = (alpha, beta, target, minWeight, maxWeight, clip, initial);
        var w = new double[numClasses];
        Array.Fill(w, initial);
        SetInitial(w);
    }

    /// <summary>Step size alpha.</summary>
    public double Alpha { get; }
    /// <summary>Smoothing factor beta.</summary>
    public double Beta { get; }
    /// <summary>Target F1.</summary>
    public double Target { get; }
    /// <summary>Lower clip bound.</summary>
    public double MinWeight { get; }
    /// <summary>Upper clip bound.</summary>
    public double MaxWeight { get; }
    /// <summary>Whether the clip is applied.</summary>
    public bool Clip { get; }
    /// <summary>Starting weight.</summary>
    public double Initial { get; }

    /// <summary>The effective per-epoch step on the error, <c>(1 - beta)*alpha</c>.</summary>
    public double EffectiveStep => (1.0 - Beta) * Alpha;

    /// <inheritdoc />
    public override string Spec =>
        $"acwa:alpha={PolicySpec.Num(Alpha)},beta={PolicySpec.Num(Beta)},target={PolicySpec.Num(Target)}," +
        $"min={PolicySpec.Num(MinWeight)},max={PolicySpec.Num(MaxWeight)},clip={PolicySpec.OnOff(Clip)},init={PolicySpec.Num(Initial)}";

    private protected override double[] Step(EpochFeedback feedback)
    {
        var current = Current;
        var next = new double[NumClasses];
        double step = EffectiveStep;
        for (int c = 0; c < next.Length; c++)
        {
            double error = Target - feedback.F1[c];
            double w = current[c] + step * error;
            next[c] = Clip ? Math.Clamp(w, MinWeight, MaxWeight) : w;
        }
        return next;
    }

    internal static void Require(bool ok, string name, double value, string rule)
    {
        if (!ok)
            throw new ArgumentOutOfRangeException(name, value, $"{name} = {value:R} {rule}.");
    }
}
