namespace Acwa.Onnx.Weighting;

/// <summary>
/// Per-class quantities derived from training class counts <c>n_c</c>: static weights for the frequency-based
/// policies, LDAM margins and log-priors for logit-adjusted losses.
/// </summary>
/// <remarks>
/// Every method rejects an empty count array, negative counts and an array with no positive count. A class with
/// <c>n_c = 0</c> contributes no loss terms, so the value given to it only has to be harmless; each method
/// documents its choice.
/// </remarks>
public static class ClassPriors
{
    /// <summary>
    /// Inverse-frequency weights normalised to mean 1: <c>w_c = K (1/n_c) / sum_{j: n_j &gt; 0} (1/n_j)</c> over the
    /// K classes with <c>n_c &gt; 0</c>. Classes with <c>n_c = 0</c> get weight 1 and take no part in the
    /// normalisation, so the mean over all C classes is 1 as well.
    /// </summary>
    public static double[] InverseFrequency(ReadOnlySpan<long> counts)
    {
        CheckCounts(counts, nameof(counts));
        var raw = new double[counts.Length];
        for (int c = 0; c < counts.Length; c++)
            raw[c] = counts[c] > 0 ? 1.0 / counts[c] : double.NaN;
        return NormalisePresent(raw);
    }

    /// <summary>
    /// Effective number of samples (Cui et al. 2019): <c>E_n = (1 - beta^n) / (1 - beta)</c>, for beta in [0, 1).
    /// <c>E_0 = 0</c>; beta = 0 gives 1 for every n &gt; 0.
    /// </summary>
    public static double EffectiveNumber(long n, double beta)
    {
        if (n < 0)
            throw new ArgumentOutOfRangeException(nameof(n), n, "A sample count cannot be negative.");
        CheckBeta(beta, nameof(beta));
        return (1.0 - Math.Pow(beta, n)) / (1.0 - beta);
    }

    /// <summary>
    /// Class-balanced weights (Cui et al. 2019): <c>w_c = 1 / E_{n_c}</c> with <c>E_n = (1 - beta^n)/(1 - beta)</c>,
    /// normalised so that the weights sum to C (mean 1). Classes with <c>n_c = 0</c> (where <c>1/E_0</c> is
    /// infinite) get weight 1 and take no part in the normalisation, so the sum over all C classes is still C.
    /// beta = 0 gives uniform weights; beta -&gt; 1 approaches <see cref="InverseFrequency"/>.
    /// </summary>
    /// <param name="counts">Training samples per class.</param>
    /// <param name="beta">In [0, 1); 0.9999 is the best value on imbalanced CIFAR-10 in Cui et al.</param>
    public static double[] ClassBalanced(ReadOnlySpan<long> counts, double beta)
    {
        CheckCounts(counts, nameof(counts));
        CheckBeta(beta, nameof(beta));
        var raw = new double[counts.Length];
        for (int c = 0; c < counts.Length; c++)
            raw[c] = counts[c] > 0 ? 1.0 / EffectiveNumber(counts[c], beta) : double.NaN;
        return NormalisePresent(raw);
    }

    /// <summary>
    /// LDAM margins (Cao et al. 2019): <c>m_c = 1 / n_c^(1/4)</c>, scaled so that the largest margin among classes
    /// with <c>n_c &gt; 0</c> equals <paramref name="maxMargin"/> (the rarest class gets it). Classes with
    /// <c>n_c = 0</c> get <paramref name="maxMargin"/>.
    /// </summary>
    /// <param name="counts">Training samples per class.</param>
    /// <param name="maxMargin">Largest margin, positive and finite; 0.5 in the LDAM reference code.</param>
    public static double[] LdamMargins(ReadOnlySpan<long> counts, double maxMargin = 0.5)
    {
        CheckCounts(counts, nameof(counts));
        if (!(maxMargin > 0 && double.IsFinite(maxMargin)))
            throw new ArgumentOutOfRangeException(nameof(maxMargin), maxMargin, "The largest LDAM margin must be positive and finite.");
        var margins = new double[counts.Length];
        double largest = 0;
        for (int c = 0; c < counts.Length; c++)
        {
            if (counts[c] > 0)
            {
                margins[c] = 1.0 / Math.Pow(counts[c], 0.25);
                largest = Math.Max(largest, margins[c]);
            }
        }
        for (int c = 0; c < counts.Length; c++)
            margins[c] = counts[c] > 0 ? margins[c] * (maxMargin / largest) : maxMargin;
        return margins;
    }

    /// <summary>
    /// Log-priors <c>log(n_c / N)</c> with <c>N = sum_c n_c</c>, for logit adjustment (Menon et al. 2021) and
    /// balanced softmax (Ren et al. 2020). A class with <c>n_c = 0</c> is treated as if it had one sample,
    /// <c>log(1 / N)</c>, so that every value stays finite.
    /// </summary>
    public static double[] LogPriors(ReadOnlySpan<long> counts)
    {
        CheckCounts(counts, nameof(counts));
        double total = 0;
        foreach (var n in counts)
            total += n;
        var logPriors = new double[counts.Length];
        for (int c = 0; c < counts.Length; c++)
            logPriors[c] = Math.Log(Math.Max(counts[c], 1) / total);
        return logPriors;
    }

    internal static void CheckCounts(ReadOnlySpan<long> counts, string name)
    {
        if (counts.IsEmpty)
            throw new ArgumentException("The class counts are empty; at least one class is needed.", name);
        bool anyPositive = false;
        for (int c = 0; c < counts.Length; c++)
        {
            if (counts[c] < 0)
                throw new ArgumentException($"Class count [{c}] is {counts[c]}; counts cannot be negative.", name);
            anyPositive |= counts[c] > 0;
        }
        if (!anyPositive)
            throw new ArgumentException($"All {counts.Length} class counts are zero; at least one class needs samples.", name);
    }

    internal static void CheckBeta(double beta, string name)
    {
        if (!(beta >= 0 && beta < 1))
            throw new ArgumentOutOfRangeException(name, beta, "The class-balanced beta must lie in [0, 1).");
    }

    /// <summary>Scales the non-NaN entries to mean 1 over themselves and sets the NaN entries (absent classes) to 1.</summary>
    private static double[] NormalisePresent(double[] raw)
    {
        double sum = 0;
        int present = 0;
        foreach (var v in raw)
        {
            if (!double.IsNaN(v))
            {
                sum += v;
                present++;
            }
        }
        for (int c = 0; c < raw.Length; c++)
            raw[c] = double.IsNaN(raw[c]) ? 1.0 : raw[c] * present / sum;
        return raw;
    }
}
