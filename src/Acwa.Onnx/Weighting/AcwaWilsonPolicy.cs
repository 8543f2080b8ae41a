namespace Acwa.Onnx.Weighting;

/// <summary>
/// An uncertainty-aware ACWA variant: like <see cref="AcwaPriorPolicy"/> (frequency prior times the exponential of a
/// leaky integral of F1 feedback), but a class's feedback counts only as far as its Wilson score interval, computed
/// from its validation support, lies away from the mean. A minority class with a handful of validation images has a
/// wide interval that contains the mean, so its noisy F1 moves nothing. State per class: smoothed metric <c>s_c</c>
/// and log-adjustment <c>a_c</c> (0 at start). After each epoch, with <c>f_c</c> the class's F1 (or recall, option
/// <c>metric</c>) and <c>n_c</c> its support in the feedback split:
/// <code>
/// s_c &lt;- f_c  (first update),   s_c &lt;- ema*s_c + (1 - ema)*f_c  (later)
/// m    = mean of s_c over classes with n_c &gt; 0
/// [L_c, U_c] = Wilson interval of s_c over n_c trials with z:
///        (s + z^2/(2n) -/+ z*sqrt(s(1-s)/n + z^2/(4n^2))) / (1 + z^2/n)
/// e_c  = max(0, m - U_c) - max(0, L_c - m)     (0 when n_c = 0)
/// a_c &lt;- (1 - shrink)*a_c + eta*e_c
/// w_c  = clip( mean-1 normalisation of p_c*exp(a_c), w_min, w_max )
/// </code>
/// F1 is not a binomial proportion; treating it as one over the class's support is an approximation that gives the
/// right scale (the interval narrows as 1/sqrt(n_c)). With <c>z = 0</c> the interval is the point <c>s_c</c> and the
/// policy equals <c>acwa-prior</c> with <c>k = 0</c>. Defaults: metric f1, prior cb (beta 0.9999), ema 0.8, z 1.96,
/// eta 1, shrink 0.25, [w_min, w_max] = [0.2, 5].
/// Spec: <c>acwa-wilson</c>, options <c>metric=f1|recall</c>, <c>prior=cb|inv|uniform</c>, <c>prior_beta</c>,
/// <c>ema</c>, <c>z</c>, <c>eta</c>, <c>shrink</c>, <c>min</c>, <c>max</c>.
/// </summary>
public sealed class AcwaWilsonPolicy : PriorFeedbackPolicy
{
    /// <summary>Creates the policy from the training class counts.</summary>
    /// <param name="trainCounts">Training samples per class (for the prior).</param>
    /// <param name="metric">The per-class metric followed.</param>
    /// <param name="prior">Which frequency prior to start from and shrink toward.</param>
    /// <param name="priorBeta">Beta of the class-balanced prior, in [0, 1).</param>
    /// <param name="ema">Weight of the old smoothed metric, in [0, 1) (0: no smoothing).</param>
    /// <param name="z">Normal quantile of the Wilson interval, finite and non-negative (1.96: 95 %; 0: no interval).</param>
    /// <param name="eta">Step on the error, non-negative.</param>
    /// <param name="shrink">Fraction of the log-adjustment removed each epoch, in (0, 1].</param>
    /// <param name="minWeight">Lower clip bound (positive).</param>
    /// <param name="maxWeight">Upper clip bound.</param>
    public AcwaWilsonPolicy(long[] trainCounts, FeedbackMetric metric = FeedbackMetric.F1, PriorKind prior = PriorKind.ClassBalanced,
        double priorBeta = ClassBalancedPolicy.DefaultBeta, double ema = 0.8, double z = 1.96, double eta = 1.0, double shrink = 0.25,
        double minWeight = 0.2, double maxWeight = 5.0)
        : base(trainCounts, prior, priorBeta, ema, eta, shrink, minWeight, maxWeight,
            () => AcwaPolicy.Require(z >= 0 && double.IsFinite(z), nameof(z), z, "must be finite and non-negative"))
    {
        if (!Enum.IsDefined(metric))
            throw new ArgumentOutOfRangeException(nameof(metric), metric, "Unknown feedback metric.");
        (Metric, Z) = (metric, z);
    }

    /// <summary>The metric followed.</summary>
    public FeedbackMetric Metric { get; }
    /// <summary>Normal quantile z of the Wilson interval.</summary>
    public double Z { get; }

    /// <summary>The smoothed metric per class (zeros before the first update); valid until the next update.</summary>
    public ReadOnlySpan<double> Smoothed => SmoothedValues;

    /// <inheritdoc />
    public override string Spec =>
        $"acwa-wilson:metric={MetricName(Metric)},prior={AcwaPriorPolicy.PriorName(Prior)},prior_beta={PolicySpec.Num(PriorBeta)},ema={PolicySpec.Num(Ema)}," +
        $"z={PolicySpec.Num(Z)},eta={PolicySpec.Num(Eta)},shrink={PolicySpec.Num(Shrink)},min={PolicySpec.Num(MinWeight)},max={PolicySpec.Num(MaxWeight)}";

    internal static string MetricName(FeedbackMetric metric) => metric == FeedbackMetric.Recall ? "recall" : "f1";

    /// <summary>
    /// The Wilson score interval of a proportion <paramref name="p"/> observed over <paramref name="n"/> trials with normal
    /// quantile <paramref name="z"/>: <c>(p + z^2/(2n) -/+ z*sqrt(p(1-p)/n + z^2/(4n^2))) / (1 + z^2/n)</c>, within [0, 1].
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">p outside [0, 1], n not positive, or z negative or not finite.</exception>
    public static (double Lower, double Upper) WilsonInterval(double p, double n, double z)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "must lie in [0, 1]");
        if (!(n > 0 && double.IsFinite(n))) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive and finite");
        if (!(z >= 0 && double.IsFinite(z))) throw new ArgumentOutOfRangeException(nameof(z), z, "must be finite and non-negative");
        double z2 = z * z;
        double denom = 1 + z2 / n;
        double centre = (p + z2 / (2 * n)) / denom;
        double half = z * Math.Sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom;
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    private protected override double[] MetricOf(EpochFeedback feedback) => Metric == FeedbackMetric.Recall ? feedback.Recall : feedback.F1;

    private protected override double Error(double smoothed, double mean, double support)
    {
        var (lower, upper) = WilsonInterval(Math.Clamp(smoothed, 0, 1), support, Z);
        return Math.Max(0, mean - upper) - Math.Max(0, lower - mean);
    }

    private protected override string SmoothedKey => "smoothed";
}
