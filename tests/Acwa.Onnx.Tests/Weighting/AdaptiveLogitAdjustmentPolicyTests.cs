using System.Text.Json.Nodes;
using Acwa.Onnx.Weighting;

namespace Acwa.Onnx.Tests.Weighting;

/// <summary>The rule of <c>la-recall</c> (docs/policies.md) by hand-computed cases, its state and its spec.</summary>
public class AdaptiveLogitAdjustmentPolicyTests
{
    private static readonly long[] Counts = [600, 300, 100];
    private static readonly double[] LogPi = [Math.Log(0.6), Math.Log(0.3), Math.Log(0.1)];

    /// <summary>Feedback whose recall is <paramref name="recall"/> (F1 and precision deliberately different: the rule reads recall only).</summary>
    private static EpochFeedback Recall(int epoch, double[] recall, long[]? support = null) =>
        new(epoch, 10, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], recall, support ?? [60, 30, 10], Counts);

    private static AdaptiveLogitAdjustmentPolicy Policy(string spec) => (AdaptiveLogitAdjustmentPolicy)PolicyFactory.Create(spec, Counts, 10);

    private static void AssertOffsets(double[] integral, AdaptiveLogitAdjustmentPolicy p)
    {
        for (int c = 0; c < 3; c++) Assert.Equal(LogPi[c] - integral[c], p.LogitOffsets[c], 12);
    }

    [Fact]
    public void StartsAtTheLogPriorOfStaticLogitAdjustmentWithUniformWeights()
    {
        var p = Policy("la-recall");
        Assert.Equal("la-recall:eta=1,ema=0.5,bound=2", p.Spec);
        Feedback.AssertBitEqual(ClassPriors.LogPriors(Counts), p.LogitOffsets);
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, p.Current.ToArray());
        Assert.IsAssignableFrom<ILogitOffsetPolicy>(p);
    }

    [Fact]
    public void SmoothingIntegralAndClippingByHand()
    {
        var p = Policy("la-recall:eta=1,ema=0.5,bound=0.3");
        // Epoch 0: s = r = [0.9, 0.6, 0.3], mean 0.6, e = [-0.3, 0, 0.3], I = [-0.3, 0, 0.3] (exactly at the bound).
        var w = p.Update(Recall(0, [0.9, 0.6, 0.3]));
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, w);
        AssertOffsets([-0.3, 0, 0.3], p);
        // Epoch 1: r = [0.9, 0.8, 0.5], s = 0.5*s + 0.5*r = [0.9, 0.7, 0.4], mean 2/3,
        // e = [-0.233333, -0.033333, 0.266667], I + e = [-0.533333, -0.033333, 0.566667], clipped to [-0.3, -0.033333, 0.3].
        p.Update(Recall(1, [0.9, 0.8, 0.5]));
        AssertOffsets([-0.3, 2.0 / 3 - 0.7, 0.3], p);
        // Epoch 2: r = [0.5, 0.9, 0.9], s = [0.7, 0.8, 0.65], mean 0.716667, e = [0.016667, -0.083333, 0.066667]:
        // class 0 comes off the bound, class 1 integrates, class 2 stays at it.
        double mean = (0.7 + 0.8 + 0.65) / 3;
        p.Update(Recall(2, [0.5, 0.9, 0.9]));
        AssertOffsets([-0.3 + (mean - 0.7), 2.0 / 3 - 0.7 + (mean - 0.8), 0.3], p);
        Assert.Equal(-0.283333, LogPi[0] - p.LogitOffsets[0], 6);
        // The poorly recalled class has the most negative training offset relative to its prior.
        Assert.True(p.LogitOffsets[2] - LogPi[2] < p.LogitOffsets[0] - LogPi[0]);
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, p.Current.ToArray());
    }

    [Fact]
    public void ClassWithoutValidationSupportKeepsItsOffsetAndStaysOutOfTheMean()
    {
        var p = Policy("la-recall:eta=2,ema=0,bound=2");
        // Supported classes 0 and 1: mean 0.6, e = [-0.2, 0.2, 0] (class 2's recall 0 is no evidence), I = 2e.
        p.Update(Recall(0, [0.8, 0.4, 0], [50, 50, 0]));
        AssertOffsets([-0.4, 0.4, 0], p);
        Assert.Equal(LogPi[2], p.LogitOffsets[2]);
        p.Update(Recall(1, [0.8, 0.4, 0], [50, 50, 0]));
        AssertOffsets([-0.8, 0.8, 0], p);
        Assert.Equal(LogPi[2], p.LogitOffsets[2]);
    }

    [Fact]
    public void EtaZeroIsStaticLogitAdjustmentBitForBit()
    {
        var p = Policy("la-recall:eta=0");
        var rng = new Random(3);
        for (int e = 0; e < 10; e++)
        {
            p.Update(Recall(e, [rng.NextDouble(), rng.NextDouble(), rng.NextDouble()]));
            Feedback.AssertBitEqual(ClassPriors.LogPriors(Counts), p.LogitOffsets);
        }
    }

    [Fact]
    public void StateRoundTripsExactlyAndContinuesIdentically()
    {
        var rng = new Random(11);
        var feedback = Enumerable.Range(0, 10).Select(e => Recall(e, [rng.NextDouble() / 3, rng.NextDouble(), 1.0 / 3])).ToList();
        var p = Policy("la-recall:eta=1.7,ema=0.3,bound=0.9");
        for (int e = 0; e < 4; e++) p.Update(feedback[e]);
        var q = Policy("la-recall:eta=1.7,ema=0.3,bound=0.9");
        q.LoadState((JsonObject)JsonNode.Parse(p.SaveState().ToJsonString())!);
        Assert.Equal(3, q.LastEpoch);
        Feedback.AssertBitEqual(p.LogitOffsets, q.LogitOffsets);
        for (int e = 4; e < 10; e++)
        {
            p.Update(feedback[e]);
            q.Update(feedback[e]);
            Feedback.AssertBitEqual(p.LogitOffsets, q.LogitOffsets);
        }
        Assert.Equal(p.SaveState().ToJsonString(), q.SaveState().ToJsonString());
    }

    [Fact]
    public void MalformedStateIsRefusedAndLeavesThePolicyUnchanged()
    {
        var p = Policy("la-recall:bound=0.5");
        p.Update(Recall(0, [0.9, 0.5, 0.1]));
        var before = p.LogitOffsets.ToArray();
        var state = p.SaveState();
        state["integral"]![2] = 0.75;
        var e = Assert.Throws<ArgumentException>(() => p.LoadState(state));
        Assert.Contains("'integral'[2] is 0.75", e.Message, StringComparison.Ordinal);
        state = p.SaveState();
        state.Remove("smoothed_recall");
        Assert.Contains("'smoothed_recall'", Assert.Throws<ArgumentException>(() => p.LoadState(state)).Message, StringComparison.Ordinal);
        Assert.Contains("'spec'", Assert.Throws<ArgumentException>(() => Policy("la-recall").LoadState(p.SaveState())).Message, StringComparison.Ordinal);
        Feedback.AssertBitEqual(before, p.LogitOffsets);
    }

    [Fact]
    public void SpecRoundTripsAndOptionErrorsNameTheKey()
    {
        var p = Policy("LA-Recall: Bound = 1.5, eta=0.25");
        Assert.Equal("la-recall:eta=0.25,ema=0.5,bound=1.5", p.Spec);
        Assert.Equal(p.Spec, PolicyFactory.Create(p.Spec, Counts, 10).Spec);
        Assert.Equal((0.25, 0.5, 1.5), (p.Eta, p.Ema, p.Bound));
        foreach (var (spec, expected) in new[]
        {
            ("la-recall:eta=-1", "'eta' = -1 is out of range"), ("la-recall:ema=1", "'ema' = 1 is out of range"),
            ("la-recall:bound=-0.1", "'bound' = -0.1 is out of range"), ("la-recall:bound=x", "'bound' = 'x' is not a finite number"),
            ("la-recall:tau=1", "no option 'tau'"),
        })
            Assert.Contains(expected, Assert.Throws<FormatException>(() => PolicyFactory.Create(spec, Counts, 10)).Message, StringComparison.Ordinal);
        Assert.Contains("eta=1, ema=0.5, bound=2", PolicyFactory.Policies.Single(i => i.Name == "la-recall").Options);
    }

    [Fact]
    public void DeferredReweightingRefusesToWrapIt()
    {
        var e = Assert.Throws<FormatException>(() => PolicyFactory.Create("drw:then=[la-recall]", Counts, 10));
        Assert.Contains("'la-recall:eta=1,ema=0.5,bound=2', which moves logit offsets", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new DeferredReweightingPolicy(new AdaptiveLogitAdjustmentPolicy(Counts), 10));
    }
}
