using Acwa.Cli.Training;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>The interval arithmetic of <c>acwa reproduce</c>'s paired differences, by hand-computed cases and table values.</summary>
public class PairedStatsTests
{
    [Theory]
    // Student-t quantiles from statistical tables (two-sided 95 % and 99 %), df 1 to 100, and the normal limit.
    [InlineData(0.975, 1, 12.7062047)]
    [InlineData(0.975, 2, 4.3026527)]
    [InlineData(0.975, 4, 2.7764451)]
    [InlineData(0.975, 9, 2.2621572)]
    [InlineData(0.975, 19, 2.0930241)]
    [InlineData(0.975, 29, 2.0452296)]
    [InlineData(0.975, 100, 1.9839715)]
    [InlineData(0.995, 10, 3.1692726)]
    [InlineData(0.975, 1e7, 1.9599640)]
    public void TQuantileMatchesTables(double p, double df, double expected)
    {
        Assert.Equal(expected, PairedStats.TQuantile(p, df), 6);
    }

    [Fact]
    public void TQuantileWithOneDegreeIsTheCauchyQuantile()
    {
        // df 1 is the Cauchy distribution: t_p = tan(pi (p - 1/2)).
        foreach (var p in new[] { 0.6, 0.9, 0.975, 0.999 })
            Assert.Equal(Math.Tan(Math.PI * (p - 0.5)), PairedStats.TQuantile(p, 1), 9);
        Assert.Throws<ArgumentOutOfRangeException>(() => PairedStats.TQuantile(0.4, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => PairedStats.TQuantile(0.975, 0.5));
    }

    [Fact]
    public void PairedDifferenceByHand()
    {
        // d = [0.01, 0.03, 0.02]: mean 0.02, sd 0.01, n 3, t(0.975, 2) = 4.302653: half-width 4.302653 * 0.01 / sqrt(3) = 0.0248414.
        var d = PairedStats.Paired([0.81, 0.83, 0.82], [0.80, 0.80, 0.80]);
        Assert.Equal(0.02, d.Mean, 12);
        Assert.Equal(0.01, d.Sd, 12);
        Assert.Equal(0.02 - 0.0248414, d.Lower, 6);
        Assert.Equal(0.02 + 0.0248414, d.Upper, 6);
        Assert.Equal(0, d.Sign);
        Assert.Equal("+2.00 [-0.48, +4.48]", ReproduceReport.Interval(d));
        // d = [1, 2, 3, 4, 5] points: mean 3, sd sqrt(2.5) = 1.581139, t(0.975, 4) = 2.776445: half-width 1.963243.
        var e = PairedStats.Paired([0.51, 0.52, 0.53, 0.54, 0.55], [0.5, 0.5, 0.5, 0.5, 0.5]);
        Assert.Equal(0.03 - 0.01963243, e.Lower, 7);
        Assert.Equal(0.03 + 0.01963243, e.Upper, 7);
        Assert.Equal(1, e.Sign);
        Assert.Equal("+3.00 [+1.04, +4.96]", ReproduceReport.Interval(e));
        // The reverse comparison mirrors the interval.
        var r = PairedStats.Paired([0.5, 0.5, 0.5, 0.5, 0.5], [0.51, 0.52, 0.53, 0.54, 0.55]);
        Assert.Equal((-e.Upper, -e.Lower, -1), (r.Lower, r.Upper, r.Sign));
        // One pair: a mean, no interval.
        var one = PairedStats.Paired([0.9], [0.8]);
        Assert.True(double.IsNaN(one.Lower));
        Assert.Equal(0, one.Sign);
        Assert.Equal("+10.00", ReproduceReport.Interval(one));
        Assert.Throws<ArgumentException>(() => PairedStats.Paired([0.9, 0.8], [0.8]));
    }

    [Fact]
    public void ReportPairsAgainstTheBestBaselineOrTheNamedReference()
    {
        static ReproduceRunResult R(int seed, double f1) => new(seed, "", "", 0, f1, f1, f1, ["a", "b"], [f1, f1], [1, 1], [], [], []);
        var ce = ReproduceMethod.Select("ce")[0];
        var la = ReproduceMethod.Select("la")[0];
        var wilson = ReproduceMethod.Select("acwa-wilson")[0];
        var results = new List<(ReproduceMethod, IReadOnlyList<ReproduceRunResult>)>
        {
            (ce, [R(0, 0.80), R(1, 0.80), R(2, 0.80)]),
            (la, [R(0, 0.84), R(1, 0.85), R(2, 0.86)]),      // the best baseline
            (wilson, [R(0, 0.85), R(1, 0.87), R(2, 0.86)]),   // d = [0.01, 0.02, 0.00] vs la
        };
        var p = ReproduceReport.PairedDifferences(new ReproduceOptions(), results)!;
        Assert.Equal("la", p.Reference.Name);
        Assert.Equal(["ce", "acwa-wilson"], p.Rows.Select(r => r.Method.Name));
        var w = p.Rows[1].MacroF1;
        Assert.Equal(0.01, w.Mean, 12);
        var lines = ReproduceReport.PairedLines(p, 3);
        Assert.Contains(lines, l => l.Contains("t = 4.3027", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("| acwa-wilson | ce |", StringComparison.Ordinal) && l.Contains("+1.00 [-1.48, +3.48]", StringComparison.Ordinal)
            && l.Contains("not separated", StringComparison.Ordinal) && l.EndsWith("| +1.00 [-1.48, +3.48] |", StringComparison.Ordinal)); // balanced accuracy last
        Assert.Contains(lines, l => l.StartsWith("| ce |", StringComparison.Ordinal) && l.Contains("worse", StringComparison.Ordinal));
        var named = ReproduceReport.PairedDifferences(new ReproduceOptions { Reference = "CE" }, results)!;
        Assert.Equal("ce", named.Reference.Name);
        Assert.Contains(ReproduceReport.PairedLines(named, 3), l => l.StartsWith("| acwa-wilson |", StringComparison.Ordinal) && l.Contains("**beats**", StringComparison.Ordinal));
    }
}
