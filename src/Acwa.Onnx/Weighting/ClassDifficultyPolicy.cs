using System.Text.Json.Nodes;

namespace Acwa.Onnx.Weighting;

/// <summary>
/// Class-difficulty weights in the manner of the CDB loss (Sinha et al. 2020, "Class-Wise Difficulty-Balanced Loss"),
/// the closest published relative of ACWA: each epoch, a class's weight is a power of its difficulty, one minus its
/// (smoothed) validation recall, normalised to mean 1 and clipped. After each epoch, with <c>r_c</c> the class's recall
/// (or F1, option <c>metric</c>) and <c>n_c</c> its support in the feedback split:
/// <code>
/// s_c &lt;- r_c  (first update),   s_c &lt;- ema*s_c + (1 - ema)*r_c  (later)
/// d_c  = 1 - s_c                     (classes with n_c = 0: the mean d of the supported classes; 1 if none)
/// w_c  = clip( C * d_c^tau / sum_j d_j^tau, w_min, w_max )      (all 1 when every d_c^tau is 0)
/// </code>
/// Epoch 0 trains with all-ones. Unlike the ACWA family there is no integration: the weights are a function of the
/// current (smoothed) difficulty, so they cannot drift. The CDB paper also offers a dynamic tau; this policy keeps tau
/// fixed (option <c>tau</c>). Defaults: metric recall, tau 1, ema 0 (no smoothing), [w_min, w_max] = [0.2, 5].
/// Spec: <c>cdb</c>, options <c>metric=recall|f1</c>, <c>tau</c>, <c>ema</c>, <c>min</c>, <c>max</c>.
/// </summary>
public sealed class ClassDifficultyPolicy : ClassWeightPolicy
{
    private double[] _smoothed;
    private double[]? _staged;

    /// <summary>Creates the policy.</summary>
    /// <param name="numClasses">Number of classes.</param>
    /// <param name="metric">The per-class metric whose complement is the difficulty.</param>
    /// <param name="tau">Exponent on the difficulty, finite and non-negative (0: uniform).</param>
    /// <param name="ema">Weight of the old smoothed metric, in [0, 1) (0: no smoothing).</param>
    /// <param name="minWeight">Lower clip bound (positive).</param>
    /// <param name="maxWeight">Upper clip bound.</param>
    public ClassDifficultyPolicy(int numClasses, FeedbackMetric metric = FeedbackMetric.Recall, double tau = 1.0, double ema = 0,
        double minWeight = 0.2, double maxWeight = 5.0)
        : base(numClasses, null)
    {
        AcwaPolicy.Require(tau >= 0 && double.IsFinite(tau), nameof(tau), tau, "must be finite and non-negative");
        AcwaPolicy.Require(ema >= 0 && ema < 1, nameof(ema), ema, "must lie in [0, 1)");
        WeightMath.CheckBounds(minWeight, maxWeight);
        if (!Enum.IsDefined(metric))
            throw new ArgumentOutOfRangeException(nameof(metric), metric, "Unknown feedback metric.");
        (Metric, Tau, Ema, MinWeight, MaxWeight) = (metric, tau, ema, minWeight, maxWeight);
        _smoothed = new double[numClasses];
    }

    /// <summary>The metric whose complement is the difficulty.</summary>
    public FeedbackMetric Metric { get; }
    /// <summary>Exponent tau.</summary>
    public double Tau { get; }
    /// <summary>EMA factor on the smoothed metric.</summary>
    public double Ema { get; }
    /// <summary>Lower clip bound.</summary>
    public double MinWeight { get; }
    /// <summary>Upper clip bound.</summary>
    public double MaxWeight { get; }

    /// <inheritdoc />
    public override string Spec =>
        $"cdb:metric={AcwaWilsonPolicy.MetricName(Metric)},tau={PolicySpec.Num(Tau)},ema={PolicySpec.Num(Ema)},min={PolicySpec.Num(MinWeight)},max={PolicySpec.Num(MaxWeight)}";

    private protected override double[] Step(EpochFeedback feedback)
    {
        int n = NumClasses;
        var r = Metric == FeedbackMetric.Recall ? feedback.Recall : feedback.F1;
        var smoothed = WeightMath.Smooth(_smoothed, r, Ema, first: LastEpoch < 0);

        double sum = 0;
        int supported = 0;
        for (int c = 0; c < n; c++)
        {
            if (feedback.Support[c] > 0)
            {
                sum += 1 - smoothed[c];
                supported++;
            }
        }
        double fill = supported > 0 ? sum / supported : 1;
        var w = new double[n];
        double total = 0;
        for (int c = 0; c < n; c++)
        {
            double d = feedback.Support[c] > 0 ? 1 - smoothed[c] : fill;
            w[c] = Math.Pow(Math.Max(0, d), Tau);
            total += w[c];
        }
        if (total > 0)
        {
            WeightMath.NormaliseMean(w, Spec);
            WeightMath.Clip(w, MinWeight, MaxWeight);
        }
        else
        {
            w = UniformPolicy.Ones(n);
        }
        _staged = smoothed;
        return w;
    }

    private protected override void Commit()
    {
        _smoothed = _staged!;
        _staged = null;
    }

    private protected override void SaveExtra(JsonObject state) => state["smoothed"] = PolicyState.ToJson(_smoothed);

    private protected override void LoadExtra(JsonObject state)
    {
        var smoothed = PolicyState.GetDoubles(state, "smoothed", NumClasses);
        (_smoothed, _staged) = (smoothed, null);
    }
}
