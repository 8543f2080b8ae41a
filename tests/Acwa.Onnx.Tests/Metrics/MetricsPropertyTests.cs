using Acwa.Onnx.Metrics;
using FsCheck.Xunit;

namespace Acwa.Onnx.Tests.Metrics;

public class MetricsPropertyTests
{
    private static (int[] Y, int[] P, int C) Draw(int seed, byte classes, ushort length, bool skew)
    {
        int C = 1 + classes % 40;
        int n = length % 9000;
        var rng = new Random(seed);
        var y = new int[n];
        var p = new int[n];
        for (int i = 0; i < n; i++)
        {
            // skew: a few classes dominate, and some classes may be absent
            y[i] = skew ? Math.Min(C - 1, (int)(-Math.Log(1 - rng.NextDouble()) * 2)) : rng.Next(C);
            p[i] = rng.Next(4) == 0 ? rng.Next(C) : y[i];
        }
        return (y, p, C);
    }

    [Property(MaxTest = 60)]
    public bool MergeOfPartialsEqualsWhole(int seed, byte classes, ushort length, byte parts)
    {
        var (y, p, C) = Draw(seed, classes, length, skew: false);
        var whole = new ConfusionMatrix(C);
        whole.Accumulate(y, p);
        int k = 1 + parts % 7;
        var merged = new ConfusionMatrix(C);
        var rng = new Random(seed ^ 0x5eed);
        var cuts = Enumerable.Range(0, k - 1).Select(_ => rng.Next(y.Length + 1)).Append(0).Append(y.Length).Order().ToArray();
        for (int i = 0; i + 1 < cuts.Length; i++)
        {
            var part = new ConfusionMatrix(C);
            part.Accumulate(y.AsSpan(cuts[i], cuts[i + 1] - cuts[i]), p.AsSpan(cuts[i], cuts[i + 1] - cuts[i]));
            merged.Add(part);
        }
        var parallel = ConfusionMatrix.ComputeParallel(y, p, C, k);
        return merged.Counts.SequenceEqual(whole.Counts) && parallel.Counts.SequenceEqual(whole.Counts)
            && whole.Total == y.Length;
    }

    [Property(MaxTest = 60)]
    public bool ReportInvariantsHold(int seed, byte classes, ushort length, bool skew)
    {
        var (y, p, C) = Draw(seed, classes, length, skew);
        var m = new ConfusionMatrix(C);
        m.Accumulate(y, p);
        var r = ClassificationReport.Create(m);
        const double eps = 1e-12;
        bool ok = r.Classes.Count == C && r.Total == y.Length
            && r.Classes.Sum(c => c.Support) == y.Length && r.Classes.Sum(c => c.Predicted) == y.Length;
        foreach (var c in r.Classes)
        {
            ok &= c.Precision is >= 0 and <= 1 && c.Recall is >= 0 and <= 1 && c.F1 is >= 0 and <= 1;
            ok &= c.F1 <= Math.Max(c.Precision, c.Recall) + eps && c.F1 >= Math.Min(c.Precision, c.Recall) - eps;
            ok &= c.IsAbsent == (c.Support == 0 && c.Predicted == 0);
            ok &= c.TruePositives <= Math.Min(c.Support, c.Predicted);
        }
        double acc = y.Length == 0 ? 0 : (double)y.Zip(p).Count(t => t.First == t.Second) / y.Length;
        ok &= Math.Abs(r.Accuracy - acc) < eps && Math.Abs(r.MicroF1 - acc) < eps;
        ok &= r.MacroF1Present >= r.MacroF1 - eps && r.BalancedAccuracy is >= 0 and <= 1;
        if (y.Length > 0)
        {
            var f1 = r.Classes.Where(c => c.Support > 0).Select(c => c.F1).ToArray();
            ok &= r.WeightedF1 >= f1.Min() - eps && r.WeightedF1 <= f1.Max() + eps;
            ok &= Math.Abs(r.WeightedRecall - acc) < eps; // support-weighted recall is accuracy
        }
        return ok;
    }
}
