namespace Acwa.Onnx.Tests.Training.Compiler;

/// <summary>Double-precision C# references of the losses (formulas from docs/training-graphs.md, "Losses").</summary>
internal static class LossReference
{
    public static double[] LogSoftmax(double[] z, int n, int c, int i)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j < c; j++) max = Math.Max(max, z[i * c + j]);
        double s = 0;
        for (int j = 0; j < c; j++) s += Math.Exp(z[i * c + j] - max);
        var r = new double[c];
        for (int j = 0; j < c; j++) r[j] = z[i * c + j] - max - Math.Log(s);
        return r;
    }

    public static double WeightedCe(double[] z, long[] y, double[] w, int c)
    {
        int n = y.Length; double num = 0, den = 0;
        for (int i = 0; i < n; i++)
        {
            var ls = LogSoftmax(z, n, c, i);
            num += w[y[i]] * -ls[y[i]];
            den += w[y[i]];
        }
        return num / den;
    }

    public static double Focal(double[] z, long[] y, double[] alpha, double gamma, int c)
    {
        int n = y.Length; double s = 0;
        for (int i = 0; i < n; i++)
        {
            var ls = LogSoftmax(z, n, c, i);
            double pt = Math.Exp(ls[y[i]]);
            s += -alpha[y[i]] * Math.Pow(Math.Max(1 - pt, 1e-12), gamma) * ls[y[i]];
        }
        return s / n;
    }

    public static double Ldam(double[] z, long[] y, double[] w, double[] m, double s, int c)
    {
        var z2 = (double[])z.Clone();
        for (int i = 0; i < y.Length; i++) z2[i * c + y[i]] -= m[y[i]];
        for (int k = 0; k < z2.Length; k++) z2[k] *= s;
        return WeightedCe(z2, y, w, c);
    }

    public static double LogitAdjusted(double[] z, long[] y, double[] w, double[] logPrior, double tau, int c)
    {
        var z2 = (double[])z.Clone();
        for (int k = 0; k < z2.Length; k++) z2[k] += tau * logPrior[k % c];
        return WeightedCe(z2, y, w, c);
    }

    /// <summary>Central finite differences of f w.r.t. every element of z.</summary>
    public static double[] Fd(Func<double[], double> f, double[] z, double h = 1e-5)
    {
        var g = new double[z.Length];
        for (int k = 0; k < z.Length; k++)
        {
            var zp = (double[])z.Clone(); zp[k] += h;
            var zm = (double[])z.Clone(); zm[k] -= h;
            g[k] = (f(zp) - f(zm)) / (2 * h);
        }
        return g;
    }
}
