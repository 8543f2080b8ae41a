using System.Text.Json.Nodes;

namespace Acwa.Onnx.Weighting;

/// <summary>
/// The rule <see cref="AcwaPriorPolicy"/> and <see cref="AcwaWilsonPolicy"/> share: a frequency prior times
/// <c>exp(a_c)</c>, where the log-adjustment <c>a_c &lt;- (1 - shrink) a_c + eta e_c</c> follows a per-class error
/// <c>e_c</c> computed from the metric smoothed over epochs (<c>s_c &lt;- ema s_c + (1 - ema) f_c</c>, <c>f_c</c> on the first
/// update) and its mean <c>m</c> over the classes with validation support; weights normalised to mean 1 and clipped. The
/// two policies differ only in <c>e_c</c> (and the metric they smooth).
/// </summary>
public abstract class PriorFeedbackPolicy : ClassWeightPolicy
{
    private readonly double[] _prior;
    private double[] _smoothed;
    private double[] _logAdjust;
    private (double[] Smoothed, double[] LogAdjust)? _staged;

    private protected PriorFeedbackPolicy(long[] trainCounts, PriorKind prior, double priorBeta, double ema, double eta, double shrink,
        double minWeight, double maxWeight, Action validateOwn)
        : base(trainCounts?.Length ?? 0, trainCounts)
    {
        ClassPriors.CheckBeta(priorBeta, nameof(priorBeta));
        AcwaPolicy.Require(ema >= 0 && ema < 1, nameof(ema), ema, "must lie in [0, 1)");
        validateOwn();
        AcwaPolicy.Require(eta >= 0 && double.IsFinite(eta), nameof(eta), eta, "must be finite and non-negative");
        AcwaPolicy.Require(shrink > 0 && shrink <= 1, nameof(shrink), shrink, "must lie in (0, 1]");
        WeightMath.CheckBounds(minWeight, maxWeight);
        if (!Enum.IsDefined(prior))
            throw new ArgumentOutOfRangeException(nameof(prior), prior, "Unknown prior kind.");
        (Prior, PriorBeta, Ema, Eta, Shrink, MinWeight, MaxWeight) = (prior, priorBeta, ema, eta, shrink, minWeight, maxWeight);
        _prior = prior switch
        {
            PriorKind.ClassBalanced => ClassPriors.ClassBalanced(trainCounts, priorBeta),
            PriorKind.InverseFrequency => ClassPriors.InverseFrequency(trainCounts),
            _ => UniformPolicy.Ones(NumClasses),
        };
        _smoothed = new double[NumClasses];
        _logAdjust = new double[NumClasses];
        SetInitial(Weights(_logAdjust));
    }

    /// <summary>The frequency prior the weights start from and shrink toward.</summary>
    public PriorKind Prior { get; }
    /// <summary>Beta of the class-balanced prior.</summary>
    public double PriorBeta { get; }
    /// <summary>EMA weight of the old smoothed metric.</summary>
    public double Ema { get; }
    /// <summary>Step on the error.</summary>
    public double Eta { get; }
    /// <summary>Fraction of the log-adjustment removed each epoch.</summary>
    public double Shrink { get; }
    /// <summary>Lower clip bound.</summary>
    public double MinWeight { get; }
    /// <summary>Upper clip bound.</summary>
    public double MaxWeight { get; }

    /// <summary>The smoothed metric per class after the last committed update.</summary>
    private protected ReadOnlySpan<double> SmoothedValues => _smoothed;

    /// <summary>The metric the policy smooths (F1 unless a policy says otherwise).</summary>
    private protected virtual double[] MetricOf(EpochFeedback feedback) => feedback.F1;

    /// <summary>Error <c>e_c</c> of a class with validation support <paramref name="support"/> &gt; 0.</summary>
    private protected abstract double Error(double smoothed, double mean, double support);

    /// <summary>The state key of the smoothed metric (checkpoints written by each policy keep their key).</summary>
    private protected abstract string SmoothedKey { get; }

    private protected sealed override double[] Step(EpochFeedback feedback)
    {
        int n = NumClasses;
        var f = MetricOf(feedback);
        var smoothed = WeightMath.Smooth(_smoothed, f, Ema, first: LastEpoch < 0);
        double mean = WeightMath.MeanOverSupported(smoothed, feedback.Support);

        var logAdjust = new double[n];
        for (int c = 0; c < n; c++)
        {
            double support = feedback.Support[c];
            double error = support > 0 ? Error(smoothed[c], mean, support) : 0;
            logAdjust[c] = (1 - Shrink) * _logAdjust[c] + Eta * error;
        }
        _staged = (smoothed, logAdjust);
        return Weights(logAdjust);
    }

    private protected sealed override void Commit()
    {
        (_smoothed, _logAdjust) = _staged!.Value;
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

    private protected sealed override void SaveExtra(JsonObject state)
    {
        state[SmoothedKey] = PolicyState.ToJson(_smoothed);
        state["log_adjust"] = PolicyState.ToJson(_logAdjust);
    }

    private protected sealed override void LoadExtra(JsonObject state)
    {
        var smoothed = PolicyState.GetDoubles(state, SmoothedKey, NumClasses);
        var logAdjust = PolicyState.GetDoubles(state, "log_adjust", NumClasses);
        (_smoothed, _logAdjust, _staged) = (smoothed, logAdjust, null);
    }
}
