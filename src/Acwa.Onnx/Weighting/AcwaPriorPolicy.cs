namespace Acwa.Onnx.Weighting;

/// <summary>
/// A stable ACWA variant for noisy per-class F1 (small validation splits): a frequency prior combined
/// multiplicatively with F1 feedback that is smoothed over epochs, scaled by each class's validation support and
/// shrunk back toward the prior. State per class: smoothed F1 <c>s_c</c> and log-adjustment <c>a_c</c> (0 at start).
/// After each epoch, with <c>n_c</c> the class's support in the feedback split:
/// <code>
/// s_c &lt;- f_c                                   (first update)
/// s_c &lt;- ema*s_c + (1 - ema)*f_c               (later updates)
/// m    = mean of s_c over classes with n_c &gt; 0
/// e_c  = n_c/(n_c + k) * (m - s_c)              (0 when n_c = 0)
/// a_c &lt;- (1 - shrink)*a_c + eta*e_c
/// w_c  = clip( mean-1 normalisation of p_c*exp(a_c), w_min, w_max )
/// </code>
/// where <c>p</c> is the prior (class-balanced with beta 0.9999 by default, mean 1). Epoch 0 trains with
/// <c>clip(p)</c>. A constant error e holds <c>a</c> at <c>eta*e/shrink</c> (gain 4 with the defaults), so
/// the weights settle instead of drifting; the EMA averages epoch-to-epoch noise, <c>n/(n + k)</c> discounts
/// classes with few validation samples; with no class supported, <c>a</c> only decays. Defaults: ema 0.8, k 20,
/// eta 1.0, shrink 0.25, [w_min, w_max] = [0.2, 5].
/// Spec: <c>acwa-prior</c>, options <c>prior=cb|inv|uniform</c>, <c>prior_beta</c>, <c>ema</c>, <c>k</c>,
/// <c>eta</c>, <c>shrink</c>, <c>min</c>, <c>max</c>.
/// </summary>
public sealed class AcwaPriorPolicy : PriorFeedbackPolicy
{
    /// <summary>Creates the policy from the training class counts.</summary>
    /// <param name="trainCounts">Training samples per class (for the prior).</param>
    /// <param name="prior">Which frequency prior to start from and shrink toward.</param>
    /// <param name="priorBeta">Beta of the class-balanced prior, in [0, 1) (used only with <see cref="PriorKind.ClassBalanced"/>).</param>
    /// <param name="ema">Weight of the old smoothed F1, in [0, 1) (0: no smoothing).</param>
    /// <param name="k">Support at which a class's error counts half, non-negative (0: support ignored).</param>
    /// <param name="eta">Step on the error, non-negative.</param>
    /// <param name="shrink">Fraction of the log-adjustment removed each epoch, in (0, 1].</param>
    /// <param name="minWeight">Lower clip bound (positive).</param>
    /// <param name="maxWeight">Upper clip bound.</param>
    public AcwaPriorPolicy(long[] trainCounts, PriorKind prior = PriorKind.ClassBalanced, double priorBeta = ClassBalancedPolicy.DefaultBeta,
        double ema = 0.8, double k = 20, double eta = 1.0, double shrink = 0.25, double minWeight = 0.2, double maxWeight = 5.0)
        : base(trainCounts, prior, priorBeta, ema, eta, shrink, minWeight, maxWeight,
            () => AcwaPolicy.Require(k >= 0 && double.IsFinite(k), nameof(k), k, "must be finite and non-negative"))
    {
        K = k;
    }

    /// <summary>Support constant k of the confidence <c>n/(n + k)</c>.</summary>
    public double K { get; }

    /// <summary>The smoothed F1 per class (zeros before the first update); valid until the next update.</summary>
    public ReadOnlySpan<double> SmoothedF1 => SmoothedValues;

    /// <inheritdoc />
    public override string Spec =>
        $"acwa-prior:prior={PriorName(Prior)},prior_beta={PolicySpec.Num(PriorBeta)},ema={PolicySpec.Num(Ema)},k={PolicySpec.Num(K)}," +
        $"eta={PolicySpec.Num(Eta)},shrink={PolicySpec.Num(Shrink)},min={PolicySpec.Num(MinWeight)},max={PolicySpec.Num(MaxWeight)}";

    internal static string PriorName(PriorKind kind) => kind switch
    {
        PriorKind.ClassBalanced => "cb",
        PriorKind.InverseFrequency => "inv",
        _ => "uniform",
    };

    private protected override double Error(double smoothed, double mean, double support) => support / (support + K) * (mean - smoothed);

    private protected override string SmoothedKey => "smoothed_f1";
}
