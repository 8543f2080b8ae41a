using System.Text.Json.Nodes;

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
public sealed class AcwaPriorPolicy : ClassWeightPolicy
{
    private readonly double[] _prior;
    private double[] _smoothedF1;
    private double[] _logAdjust;
    private (double[] Smoothed, double[] LogAdjust)? _staged;

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
        : base(trainCounts?.Length ?? 0, trainCounts)
    {
        ClassPriors.CheckBeta(priorBeta, nameof(priorBeta));
        AcwaPolicy.Require(ema >= 0 && ema < 1, nameof(ema), ema, "must lie in [0, 1)");
        AcwaPolicy.Require(k >= 0 && double.IsFinite(k), nameof(k), k, "must be finite and non-negative");
        AcwaPolicy.Require(eta >= 0 && double.IsFinite(eta), nameof(eta), eta, "must be finite and non-negative");
        AcwaPolicy.Require(shrink > 0 && shrink <= 1, nameof(shrink), shrink, "must lie in (0, 1]");
        WeightMath.CheckBounds(minWeight, maxWeight);
        if (!Enum.IsDefined(prior))
            throw new ArgumentOutOfRangeException(nameof(prior), prior, "Unknown prior kind.");
        (Prior, PriorBeta, Ema, K, Eta, Shrink, MinWeight, MaxWeight) = (prior, priorBeta, ema, k, eta, shrink, minWeight, maxWeight);
        _prior = prior switch
        {
            PriorKind.ClassBalanced => ClassPriors.ClassBalanced(trainCounts, priorBeta),
            PriorKind.InverseFrequency => ClassPriors.InverseFrequency(trainCounts),
            _ => UniformPolicy.Ones(NumClasses),
        };
        _smoothedF1 = new double[NumClasses];
        _logAdjust = new double[NumClasses];
        SetInitial(Weights(_logAdjust));
    }

    /// <summary>The prior kind.</summary>
    public PriorKind Prior { get; }
    /// <summary>Beta of the class-balanced prior.</summary>
    public double PriorBeta { get; }
    /// <summary>EMA factor on the smoothed F1.</summary>
    public double Ema { get; }
    /// <summary>Support constant k of the confidence <c>n/(n + k)</c>.</summary>
    public double K { get; }
    /// <summary>Step eta.</summary>
    public double Eta { get; }
    /// <summary>Shrinkage toward the prior per epoch.</summary>
    public double Shrink { get; }
    /// <summary>Lower clip bound.</summary>
    public double MinWeight { get; }
    /// <summary>Upper clip bound.</summary>
    public double MaxWeight { get; }

    /// <summary>The smoothed F1 per class (zeros before the first update); valid until the next update.</summary>
    public ReadOnlySpan<double> SmoothedF1 => _smoothedF1;

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

    private protected override double[] Step(EpochFeedback feedback)
    {
        int n = NumClasses;
        var f1 = feedback.F1;
        var smoothed = new double[n];
        for (int c = 0; c < n; c++)
            smoothed[c] = LastEpoch < 0 ? f1[c] : Ema * _smoothedF1[c] + (1 - Ema) * f1[c];

        double sum = 0;
        int supported = 0;
        for (int c = 0; c < n; c++)
        {
            if (feedback.Support[c] > 0)
            {
                sum += smoothed[c];
                supported++;
            }
        }
        double mean = supported > 0 ? sum / supported : 0;

        var logAdjust = new double[n];
        for (int c = 0; c < n; c++)
        {
            double support = feedback.Support[c];
            double error = support > 0 ? support / (support + K) * (mean - smoothed[c]) : 0;
            logAdjust[c] = (1 - Shrink) * _logAdjust[c] + Eta * error;
        }
        _staged = (smoothed, logAdjust);
        return Weights(logAdjust);
    }

    private protected override void Commit()
    {
        (_smoothedF1, _logAdjust) = _staged!.Value;
        _staged = null;
    }

    private double[] Weights(double[] logAdjust)
    {
        var w = new double[NumClasses];
        for (int c = 0; c < w.Length; c++)
            w[c] = _prior[c] * Math.Exp(logAdjust[c]);
        WeightMath.NormaliseMean(w, Spec);
        WeightMath.Clip(w, MinWeight, MaxWeight);
        return w;
    }

    private protected override void SaveExtra(JsonObject state)
    {
        state["smoothed_f1"] = PolicyState.ToJson(_smoothedF1);
        state["log_adjust"] = PolicyState.ToJson(_logAdjust);
    }

    private protected override void LoadExtra(JsonObject state)
    {
        var smoothed = PolicyState.GetDoubles(state, "smoothed_f1", NumClasses);
        var logAdjust = PolicyState.GetDoubles(state, "log_adjust", NumClasses);
        (_smoothedF1, _logAdjust, _staged) = (smoothed, logAdjust, null);
    }
}
