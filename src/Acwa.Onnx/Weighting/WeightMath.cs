namespace Acwa.Onnx.Weighting;

/// <summary>Small helpers shared by the adaptive policies.</summary>
internal static class WeightMath
{
    /// <summary>Scales <paramref name="w"/> in place to mean 1 (<c>w_c * C / sum_j w_j</c>).</summary>
    /// <exception cref="InvalidOperationException">The sum is not positive and finite.</exception>
    public static void NormaliseMean(double[] w, string policy)
    {
        double sum = 0;
        foreach (var v in w)
            sum += v;
        if (!(sum > 0 && double.IsFinite(sum)))
            throw new InvalidOperationException($"Policy '{policy}' cannot normalise weights whose sum is {sum:R}.");
        double scale = w.Length / sum;
        for (int c = 0; c < w.Length; c++)
            w[c] *= scale;
    }

    /// <summary>Clamps every entry of <paramref name="w"/> in place to [min, max].</summary>
    public static void Clip(double[] w, double min, double max)
    {
        for (int c = 0; c < w.Length; c++)
            w[c] = Math.Clamp(w[c], min, max);
    }

    /// <summary>Mean of <paramref name="values"/>.</summary>
    public static double Mean(ReadOnlySpan<double> values)
    {
        double sum = 0;
        foreach (var v in values)
            sum += v;
        return sum / values.Length;
    }

    /// <summary>Checks clip bounds: positive, finite, min &lt;= max.</summary>
    /// <summary>
    /// Exponential smoothing of a per-class metric: <paramref name="metric"/> itself on the first update
    /// (<paramref name="first"/>), else <c>ema * previous + (1 - ema) * metric</c> per class.
    /// </summary>
    public static double[] Smooth(ReadOnlySpan<double> previous, ReadOnlySpan<double> metric, double ema, bool first)
    {
        var smoothed = new double[metric.Length];
        for (int c = 0; c < smoothed.Length; c++)
            smoothed[c] = first ? metric[c] : ema * previous[c] + (1 - ema) * metric[c];
        return smoothed;
    }

    /// <summary>Mean of <paramref name="values"/> over the classes with validation support (0 when none has any).</summary>
    public static double MeanOverSupported(ReadOnlySpan<double> values, ReadOnlySpan<long> support)
    {
        double sum = 0;
        int supported = 0;
        for (int c = 0; c < values.Length; c++)
        {
            if (support[c] > 0)
            {
                sum += values[c];
                supported++;
            }
        }
        return supported > 0 ? sum / supported : 0;
    }

    public static void CheckBounds(double min, double max)
    {
        if (!(min > 0 && double.IsFinite(min)))
            throw new ArgumentOutOfRangeException(nameof(min), min, $"The lower weight bound {min:R} must be positive and finite.");
        if (!(max >= min && double.IsFinite(max)))
            throw new ArgumentOutOfRangeException(nameof(max), max, $"The upper weight bound {max:R} must be finite and at least the lower bound {min:R}.");
    }
}
