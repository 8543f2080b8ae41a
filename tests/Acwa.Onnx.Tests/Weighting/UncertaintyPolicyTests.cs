using Acwa.Onnx.Weighting;

namespace Acwa.Onnx.Tests.Weighting;

/// <summary>The rules of <c>acwa-wilson</c> and <c>cdb</c> by hand-computed cases (docs/policies.md).</summary>
public class UncertaintyPolicyTests
{
    [Theory]
    // Textbook 95 % Wilson intervals: 50/100, 90/100, 3/3 (upper bound exactly 1), 0/10.
    [InlineData(0.5, 100, 0.4038, 0.5962)]
    [InlineData(0.9, 100, 0.8256, 0.9448)]
    [InlineData(1.0, 3, 0.4385, 1.0)]
    [InlineData(0.0, 10, 0.0, 0.2775)]
    public void WilsonIntervalMatchesTextbookValues(double p, double n, double lower, double upper)
    {
        var (l, u) = AcwaWilsonPolicy.WilsonInterval(p, n, 1.96);
        Assert.Equal(lower, l, 4);
        Assert.Equal(upper, u, 4);
    }

    [Fact]
    public void WilsonIntervalWithZeroZIsThePoint()
    {
        Assert.Equal((0.37, 0.37), AcwaWilsonPolicy.WilsonInterval(0.37, 5, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => AcwaWilsonPolicy.WilsonInterval(0.5, 0, 1.96));
        Assert.Throws<ArgumentOutOfRangeException>(() => AcwaWilsonPolicy.WilsonInterval(1.5, 10, 1.96));
    }

    [Fact]
    public void WilsonByHand()
    {
        var p = new AcwaWilsonPolicy([1000, 1000, 1000], prior: PriorKind.Uniform);
        Assert.Equal("acwa-wilson:metric=f1,prior=uniform,prior_beta=0.9999,ema=0.8,z=1.96,eta=1,shrink=0.25,min=0.2,max=5", p.Spec);
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, p.Current.ToArray());
        long[] support = [100, 100, 4];
        // s = f = [0.9, 0.5, 0.2], m = 0.533333. Class 0 (90/100): [0.825633, 0.944787], entirely above m:
        // e0 = -(0.825633 - 0.533333) = -0.292300. Class 1 (50/100): [0.4038, 0.5962] contains m: e1 = 0.
        // Class 2 has F1 0.2 but only 4 validation samples: [0.0308, 0.6632] contains m: e2 = 0 (acwa-prior:k=0 would raise it).
        var w = p.Update(Feedback.Of(0, [0.9, 0.5, 0.2], support));
        double e0 = -0.292300;
        double raw0 = Math.Exp(e0), sum = raw0 + 2;
        Assert.Equal(3 * raw0 / sum, w[0], 5);
        Assert.Equal(3 / sum, w[1], 5);
        Assert.Equal(w[1], w[2]);
        // Same F1 again: s unchanged, a0 = 0.75*e0 + e0 = 1.75*e0.
        w = p.Update(Feedback.Of(1, [0.9, 0.5, 0.2], support));
        raw0 = Math.Exp(1.75 * e0);
        sum = raw0 + 2;
        Assert.Equal(3 * raw0 / sum, w[0], 5);
        Assert.Equal(3 / sum, w[2], 5);
        // Against acwa-prior with no confidence factor, which follows the 4-sample class's F1 as it is.
        var prior = PolicyFactory.Create("acwa-prior:prior=uniform,k=0", [1000, 1000, 1000], 100);
        var wp = prior.Update(Feedback.Of(0, [0.9, 0.5, 0.2], support));
        Assert.True(wp[2] > wp[1] && wp[1] > wp[0]);
    }

    [Fact]
    public void WilsonWithZeroZEqualsAcwaPriorWithoutConfidenceBitForBit()
    {
        long[] counts = [4000, 1200, 300, 35];
        long[] support = [400, 120, 30, 3];
        var wilson = PolicyFactory.Create("acwa-wilson:z=0", counts, 20);
        var prior = PolicyFactory.Create("acwa-prior:k=0", counts, 20);
        Feedback.AssertBitEqual(prior.Current, wilson.Current);
        var rng = new Random(7);
        for (int epoch = 0; epoch < 20; epoch++)
        {
            var f1 = Enumerable.Range(0, 4).Select(_ => rng.NextDouble()).ToArray();
            Feedback.AssertBitEqual(prior.Update(Feedback.Of(epoch, f1, support, 20)), wilson.Update(Feedback.Of(epoch, f1, support, 20)));
        }
    }

    [Fact]
    public void WilsonFollowsRecallWhenAsked()
    {
        var p = PolicyFactory.Create("acwa-wilson:metric=recall,prior=uniform,z=0", [10, 10], 10);
        // F1 equal, recall differs: recall [0.9, 0.5], m = 0.7, e = [-0.2, 0.2].
        var w = p.Update(new EpochFeedback(0, 10, [0.7, 0.7], [0.7, 0.7], [0.9, 0.5], [50, 50], [10, 10]));
        Assert.Equal(2 * Math.Exp(-0.2) / (Math.Exp(-0.2) + Math.Exp(0.2)), w[0], 14);
    }

    [Fact]
    public void WilsonIgnoresUnsupportedClassesAndStartsAtThePrior()
    {
        long[] counts = [5000, 500, 50];
        var p = PolicyFactory.Create("acwa-wilson", counts, 10);
        var start = ClassPriors.ClassBalanced(counts, 0.9999);
        start[0] = 0.2;   // clipped like every later weight
        Assert.Equal(start, p.Current.ToArray());
        // Equal F1 on the supported classes, class 2 without support: nothing moves.
        var w = p.Update(Feedback.Of(0, [0.8, 0.8, 0.0], support: [100, 100, 0], totalEpochs: 10));
        for (int c = 0; c < 3; c++)
            Assert.Equal(start[c], w[c], 14);
    }

    [Fact]
    public void CdbByHand()
    {
        var p = new ClassDifficultyPolicy(3);
        Assert.Equal("cdb:metric=recall,tau=1,ema=0,min=0.2,max=5", p.Spec);
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, p.Current.ToArray());
        // recall [0.9, 0.6, 0.3]: d = [0.1, 0.4, 0.7], sum 1.2, w = 3 d / 1.2 = [0.25, 1, 1.75].
        var w = p.Update(Feedback.Of(0, [0.9, 0.6, 0.3]));
        Assert.Equal(0.25, w[0], 14);
        Assert.Equal(1.0, w[1], 14);
        Assert.Equal(1.75, w[2], 14);
        // tau 2: d^2 = [0.01, 0.16, 0.49], sum 0.66: [0.04545 -> clipped to 0.2, 0.727273, 2.227273].
        var q = PolicyFactory.Create("cdb:tau=2", [1, 1, 1], 10);
        w = q.Update(Feedback.Of(0, [0.9, 0.6, 0.3], totalEpochs: 10));
        Assert.Equal(0.2, w[0]);
        Assert.Equal(3 * 0.16 / 0.66, w[1], 14);
        Assert.Equal(3 * 0.49 / 0.66, w[2], 14);
    }

    [Fact]
    public void CdbSmoothsFillsUnsupportedClassesAndHandlesPerfectRecall()
    {
        // ema 0.5: s = [0.9, 0.6, 0.3], then recall [0.5, 0.6, 0.3] -> s = [0.7, 0.6, 0.3], d = [0.3, 0.4, 0.7], sum 1.4.
        var p = PolicyFactory.Create("cdb:ema=0.5", [1, 1, 1], 10);
        p.Update(Feedback.Of(0, [0.9, 0.6, 0.3], totalEpochs: 10));
        var w = p.Update(Feedback.Of(1, [0.5, 0.6, 0.3], totalEpochs: 10));
        Assert.Equal(3 * 0.3 / 1.4, w[0], 14);
        Assert.Equal(3 * 0.4 / 1.4, w[1], 14);
        Assert.Equal(3 * 0.7 / 1.4, w[2], 14);
        // A class without validation support gets the mean difficulty of the others: d = [0.1, 0.4, 0.25], sum 0.75.
        var u = PolicyFactory.Create("cdb", [1, 1, 1], 10);
        w = u.Update(Feedback.Of(0, [0.9, 0.6, 0.0], support: [10, 10, 0], totalEpochs: 10));
        Assert.Equal(new[] { 0.4, 1.6, 1.0 }, w.Select(x => Math.Round(x, 12)));
        // Perfect recall everywhere: no difficulty, uniform weights.
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, u.Update(Feedback.Of(1, [1.0, 1.0, 1.0], totalEpochs: 10)));
        // tau 0: uniform.
        var flat = PolicyFactory.Create("cdb:tau=0", [1, 1, 1], 10);
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, flat.Update(Feedback.Of(0, [0.9, 0.6, 0.3], totalEpochs: 10)));
    }

    [Fact]
    public void SpecsRoundTripAndRejectBadValues()
    {
        foreach (var spec in new[] { "acwa-wilson:metric=recall,prior=inv,z=1,eta=2", "cdb:metric=f1,tau=0.5,ema=0.8", "drw:at=0.8,then=[acwa-wilson]" })
        {
            var p = PolicyFactory.Create(spec, [100, 10], 10);
            Assert.Equal(p.Spec, PolicyFactory.Create(p.Spec, [100, 10], 10).Spec);
        }
        Assert.Contains("'z'", Assert.Throws<FormatException>(() => PolicyFactory.Create("acwa-wilson:z=-1", [1, 1], 10)).Message);
        Assert.Contains("'metric'", Assert.Throws<FormatException>(() => PolicyFactory.Create("cdb:metric=precision", [1, 1], 10)).Message);
        Assert.Contains("'tau'", Assert.Throws<FormatException>(() => PolicyFactory.Create("cdb:tau=-1", [1, 1], 10)).Message);
    }
}
