using System.Text.Json.Nodes;

namespace Acwa.Onnx.Weighting;

/// <summary>
/// Adaptive logit adjustment: the offsets of the logit-adjusted loss (Menon et al. 2021), which start at the training
/// log prior <c>log pi_c</c> exactly as static logit adjustment, are moved once per epoch by a clipped integral of each
/// class's validation recall below the mean. After each epoch, with <c>r_c</c> the class's validation recall and
/// <c>n_c</c> its validation support:
/// <code>
/// s_c &lt;- r_c  (first update),   s_c &lt;- ema*s_c + (1 - ema)*r_c  (later)
/// e_c  = mean_{k: n_k &gt; 0} s_k - s_c      (e_c = 0 when n_c = 0)
/// I_c &lt;- clip(I_c + eta*e_c, -bound, bound)       (I_c = 0 before the first update)
/// a_c  = log pi_c - I_c                     (the log_prior control; the loss adds tau*a_c to the logits in training)
/// </code>
/// A class recalled worse than average gets a more negative training offset, which, as in logit adjustment, raises its
/// logit at test time (where no offset is added). The class weights stay 1. Defaults: eta 1, ema 0.5, bound 2.
/// Spec: <c>la-recall</c>, options <c>eta</c>, <c>ema</c>, <c>bound</c>; it needs the logit-adjusted loss (<c>--loss la</c>).
/// </summary>
public sealed class AdaptiveLogitAdjustmentPolicy : ClassWeightPolicy, ILogitOffsetPolicy
{
    /// <summary>Default step on the recall error.</summary>
    public const double DefaultEta = 1.0;
    /// <summary>Default EMA weight of the old smoothed recall.</summary>
    public const double DefaultEma = 0.5;
    /// <summary>Default bound on the integral (in log-prior units).</summary>
    public const double DefaultBound = 2.0;

    private readonly double[] _logPrior;
    private double[] _smoothed;
    private double[] _integral;
    private double[] _offsets;
    private (double[] Smoothed, double[] Integral)? _staged;

    /// <summary>Creates the policy for a training set with <paramref name="trainCounts"/> samples per class.</summary>
    /// <param name="trainCounts">Training samples per class (the prior pi; <see cref="ClassPriors.LogPriors"/>).</param>
    /// <param name="eta">Step on the recall error, finite and non-negative (0: static logit adjustment).</param>
    /// <param name="ema">Weight of the old smoothed recall, in [0, 1) (0: no smoothing).</param>
    /// <param name="bound">Bound on the integral's magnitude, finite and non-negative.</param>
    public AdaptiveLogitAdjustmentPolicy(long[] trainCounts, double eta = DefaultEta, double ema = DefaultEma, double bound = DefaultBound)
        : base(trainCounts?.Length ?? throw new ArgumentNullException(nameof(trainCounts)), trainCounts)
    {
        AcwaPolicy.Require(eta >= 0 && double.IsFinite(eta), nameof(eta), eta, "must be finite and non-negative");
        AcwaPolicy.Require(ema >= 0 && ema < 1, nameof(ema), ema, "must lie in [0, 1)");
        AcwaPolicy.Require(bound >= 0 && double.IsFinite(bound), nameof(bound), bound, "must be finite and non-negative");
        (Eta, Ema, Bound) = (eta, ema, bound);
        _logPrior = ClassPriors.LogPriors(trainCounts);
        _smoothed = new double[NumClasses];
        _integral = new double[NumClasses];
        _offsets = Offsets(_integral);
    }

    /// <summary>Step on the recall error.</summary>
    public double Eta { get; }
    /// <summary>EMA weight of the old smoothed recall.</summary>
    public double Ema { get; }
    /// <summary>Bound on the integral's magnitude.</summary>
    public double Bound { get; }

    /// <inheritdoc />
    public ReadOnlySpan<double> LogitOffsets => _offsets;

    /// <inheritdoc />
    public override string Spec => $"la-recall:eta={PolicySpec.Num(Eta)},ema={PolicySpec.Num(Ema)},bound={PolicySpec.Num(Bound)}";

    private protected override double[] Step(EpochFeedback feedback)
    {
        int n = NumClasses;
        var r = feedback.Recall;
        var smoothed = WeightMath.Smooth(_smoothed, r, Ema, first: LastEpoch < 0);
        double mean = WeightMath.MeanOverSupported(smoothed, feedback.Support);

        var integral = new double[n];
        for (int c = 0; c < n; c++)
        {
            double error = feedback.Support[c] > 0 ? mean - smoothed[c] : 0;
            integral[c] = Math.Clamp(_integral[c] + Eta * error, -Bound, Bound);
        }
        _staged = (smoothed, integral);
        return UniformPolicy.Ones(n);
    }

    private protected override void Commit()
    {
        (_smoothed, _integral) = _staged!.Value;
        _offsets = Offsets(_integral);
        _staged = null;
    }

    private double[] Offsets(double[] integral)
    {
        var a = new double[NumClasses];
        for (int c = 0; c < a.Length; c++)
            a[c] = _logPrior[c] - integral[c];
        return a;
    }

    private protected override void SaveExtra(JsonObject state)
    {
        state["smoothed_recall"] = PolicyState.ToJson(_smoothed);
        state["integral"] = PolicyState.ToJson(_integral);
    }

    private protected override void LoadExtra(JsonObject state)
    {
        var smoothed = PolicyState.GetDoubles(state, "smoothed_recall", NumClasses);
        var integral = PolicyState.GetDoubles(state, "integral", NumClasses);
        for (int c = 0; c < NumClasses; c++)
        {
            if (Math.Abs(integral[c]) > Bound)
                throw new ArgumentException($"Policy state field 'integral'[{c}] is {integral[c]:R}, outside [-bound, bound] = [-{PolicySpec.Num(Bound)}, {PolicySpec.Num(Bound)}].", nameof(state));
        }
        (_smoothed, _integral, _staged) = (smoothed, integral, null);
        _offsets = Offsets(_integral);
    }
}
