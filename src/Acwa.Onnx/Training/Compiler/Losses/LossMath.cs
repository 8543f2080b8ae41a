namespace Acwa.Onnx.Training.Compiler.Losses;

/// <summary>Host-side helpers that compute default values for loss inputs from class counts.</summary>
internal static class LossMath
{
    /// <summary>
    /// LDAM margins (Cao et al. 2019): m_c = n_c^(-1/4), rescaled so that the largest margin equals <paramref name="maxMargin"/>.
    /// A class with zero count gets the largest margin.
    /// </summary>
    /// <exception cref="ArgumentException">When counts is empty or holds a negative value.</exception>
    public static float[] LdamMargins(IReadOnlyList<long> counts, double maxMargin = 0.5)
    {
        if (counts.Count == 0) throw new ArgumentException("class counts are empty", nameof(counts));
        var raw = new double[counts.Count];
        for (int c = 0; c < counts.Count; c++)
        {
            if (counts[c] < 0) throw new ArgumentException($"class count [{c}] is negative ({counts[c]})", nameof(counts));
            raw[c] = counts[c] == 0 ? double.PositiveInfinity : Math.Pow(counts[c], -0.25);
        }
        double finiteMax = raw.Where(double.IsFinite).DefaultIfEmpty(1).Max();
        return raw.Select(r => (float)(double.IsFinite(r) ? r / finiteMax * maxMargin : maxMargin)).ToArray();
    }

    /// <summary>Log class prior log(n_c / sum n) for logit adjustment; a class with zero count gets log(1e-12).</summary>
    /// <exception cref="ArgumentException">When counts is empty, holds a negative value or sums to zero.</exception>
    public static float[] LogPrior(IReadOnlyList<long> counts)
    {
        if (counts.Count == 0) throw new ArgumentException("class counts are empty", nameof(counts));
        long total = 0;
        for (int c = 0; c < counts.Count; c++)
        {
            if (counts[c] < 0) throw new ArgumentException($"class count [{c}] is negative ({counts[c]})", nameof(counts));
            total += counts[c];
        }
        if (total == 0) throw new ArgumentException("class counts sum to zero", nameof(counts));
        return counts.Select(n => (float)Math.Log(Math.Max((double)n / total, 1e-12))).ToArray();
    }
}
