namespace Acwa.Cli.Training;

/// <summary>
/// Paired comparison over seeds: runs with the same seed share the data split and the initial weights, so a method is
/// compared with a reference by the per-seed differences <c>d_s = x_s - ref_s</c>, their mean and the 95 % Student-t
/// interval <c>mean +- t(0.975, n-1) * sd / sqrt(n)</c> (sd the sample standard deviation, n - 1). The t quantile is
/// computed (bisection on the t distribution's CDF through the regularised incomplete beta function), for any
/// n - 1 &gt;= 1 degrees of freedom.
/// </summary>
internal static class PairedStats
{
    /// <summary>A paired difference: mean, the interval's bounds (NaN with one pair), sample sd and the number of pairs.</summary>
    public readonly record struct Difference(double Mean, double Lower, double Upper, double Sd, int N)
    {
        /// <summary>+1 when the interval lies above 0, -1 when below, 0 otherwise (also with one pair: no interval).</summary>
        public int Sign => N < 2 ? 0 : Lower > 0 ? 1 : Upper < 0 ? -1 : 0;
    }

    /// <summary>The paired difference of <paramref name="x"/> minus <paramref name="reference"/>, same seeds in the same order.</summary>
    /// <param name="confidence">Two-sided confidence level, in (0, 1); 0.95 by default.</param>
    /// <exception cref="ArgumentException">Different lengths or no pairs.</exception>
    public static Difference Paired(IReadOnlyList<double> x, IReadOnlyList<double> reference, double confidence = 0.95)
    {
        if (x.Count != reference.Count) throw new ArgumentException($"{x.Count} values against {reference.Count} reference values: a paired difference needs the same seeds", nameof(x));
        if (x.Count == 0) throw new ArgumentException("no pairs", nameof(x));
        var d = x.Select((v, i) => v - reference[i]).ToArray();
        var (mean, sd) = ReproduceReport.MeanStd(d);
        if (d.Length < 2) return new Difference(mean, double.NaN, double.NaN, 0, 1);
        double half = TQuantile(0.5 + confidence / 2, d.Length - 1) * sd / Math.Sqrt(d.Length);
        return new Difference(mean, mean - half, mean + half, sd, d.Length);
    }

    /// <summary>The quantile <c>t_p</c> of Student's t distribution with <paramref name="df"/> degrees of freedom, p in (0.5, 1).</summary>
    /// <exception cref="ArgumentOutOfRangeException">p outside (0.5, 1) or df below 1.</exception>
    public static double TQuantile(double p, double df)
    {
        if (!(p > 0.5 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "must lie in (0.5, 1)");
        if (!(df >= 1 && double.IsFinite(df))) throw new ArgumentOutOfRangeException(nameof(df), df, "must be at least 1");
        double tail = 1 - p;               // P(T > t)
        double lo = 0, hi = 1;
        while (UpperTail(hi, df) > tail) hi *= 2;
        for (int i = 0; i < 200 && hi - lo > 1e-13 * hi; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (UpperTail(mid, df) > tail) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    /// <summary>P(T &gt; t) for t &gt;= 0: <c>I_{df/(df+t^2)}(df/2, 1/2) / 2</c>.</summary>
    internal static double UpperTail(double t, double df) => 0.5 * RegularizedBeta(df / (df + t * t), df / 2, 0.5);

    /// <summary>The regularised incomplete beta function I_x(a, b) (continued fraction, Numerical Recipes' betacf).</summary>
    internal static double RegularizedBeta(double x, double a, double b)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        double front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x));
        return x < (a + 1) / (a + b + 2)
            ? front * BetaFraction(x, a, b) / a
            : 1 - front * BetaFraction(1 - x, b, a) / b;
    }

    private static double BetaFraction(double x, double a, double b)
    {
        const double tiny = 1e-300;
        double qab = a + b, qap = a + 1, qam = a - 1;
        double c = 1, d = 1 - qab * x / qap;
        if (Math.Abs(d) < tiny) d = tiny;
        d = 1 / d;
        double h = d;
        for (int m = 1; m <= 10000; m++)
        {
            int m2 = 2 * m;
            double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
            d = 1 + aa * d; if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + aa / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            h *= d * c;
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
            d = 1 + aa * d; if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + aa / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1) < 1e-15) break;
        }
        return h;
    }

    /// <summary>log Gamma(x) for x &gt; 0 (Lanczos, g = 7, 9 terms; relative error about 1e-15).</summary>
    internal static double LogGamma(double x)
    {
        if (x < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        ReadOnlySpan<double> g =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ];
        x -= 1;
        double a = g[0];
        double t = x + 7.5;
        for (int i = 1; i < 9; i++) a += g[i] / (x + i);
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(a);
    }
}
