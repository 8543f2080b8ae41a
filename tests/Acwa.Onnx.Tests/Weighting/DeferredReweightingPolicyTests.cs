using Acwa.Onnx.Weighting;

namespace Acwa.Onnx.Tests.Weighting;

public class DeferredReweightingPolicyTests
{
    private static readonly long[] Counts = [1000, 10];

    [Fact]
    public void SwitchesAtEightyPercentByDefault()
    {
        var p = (DeferredReweightingPolicy)PolicyFactory.Create("drw", Counts, 10);
        Assert.Equal(8, p.SwitchEpoch);
        Assert.Equal("drw:at=0.8,then=[cb:beta=0.9999]", p.Spec);
        var cb = ClassPriors.ClassBalanced(Counts, 0.9999);
        var weightsForEpoch = new List<double[]> { p.Current.ToArray() };   // epoch 0
        for (int epoch = 0; epoch < 9; epoch++)
            weightsForEpoch.Add(p.Update(Feedback.Of(epoch, [0.9, 0.3], totalEpochs: 10)));
        for (int e = 0; e < 8; e++)
            Assert.Equal(new[] { 1.0, 1.0 }, weightsForEpoch[e]);
        Assert.Equal(cb, weightsForEpoch[8]);
        Assert.Equal(cb, weightsForEpoch[9]);
    }

    [Theory]
    [InlineData(0.8, 200, 160)]
    [InlineData(0.8, 10, 8)]
    [InlineData(0.75, 10, 8)]   // first epoch e with e >= 7.5
    [InlineData(0.55, 100, 55)] // 0.55*100 is 55.00000000000001 in doubles
    [InlineData(0.7, 90, 63)]   // 0.7*90 is 62.99999999999999 in doubles
    [InlineData(0.0, 10, 0)]
    [InlineData(1.0, 10, 10)]   // never switches within the run
    public void SwitchEpochFromFraction(double at, int total, int expected)
    {
        Assert.Equal(expected, new DeferredReweightingPolicy(new ClassBalancedPolicy(Counts), total, at).SwitchEpoch);
    }

    [Fact]
    public void SwitchAtZeroStartsWithTheFollowUp()
    {
        var p = PolicyFactory.Create("drw:epoch=0,then=inv", Counts, 5);
        Assert.Equal(ClassPriors.InverseFrequency(Counts), p.Current.ToArray());
        Assert.Equal("drw:epoch=0,then=[inv]", p.Spec);
    }

    [Fact]
    public void AdaptiveFollowUpStartsLearningOnlyAfterTheSwitch()
    {
        var p = PolicyFactory.Create("drw:epoch=2,then=[acwa:alpha=1,beta=0]", Counts, 10);
        var w = Feedback.Run(p, [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.0]], totalEpochs: 10);
        Assert.Equal(new[] { 1.0, 1.0 }, w[0]);   // for epoch 1
        Assert.Equal(new[] { 1.0, 1.0 }, w[1]);   // for epoch 2: acwa's initial weights
        Assert.Equal(new[] { 1.5, 1.5 }, w[2]);   // epoch 2's feedback is the first acwa sees
        Assert.Equal(new[] { 2.0, 2.0 }, w[3]);   // 1.5 + 0.5 = 2 ; 1.5 + 1 = 2.5 -> clip 2
        Assert.Equal(3, ((DeferredReweightingPolicy)p).Then.LastEpoch);
    }

    [Fact]
    public void RejectsAnotherRunLength()
    {
        var p = PolicyFactory.Create("drw", Counts, 10);
        var e = Assert.Throws<ArgumentException>(() => p.Update(Feedback.Of(0, [0.5, 0.5], totalEpochs: 20)));
        Assert.Contains("10 epochs", e.Message);
        Assert.Equal(-1, p.LastEpoch);
    }

    [Fact]
    public void RejectsAnUpdatedFollowUp()
    {
        var then = new AcwaPolicy(2);
        then.Update(Feedback.Of(0, [0.5, 0.5]));
        Assert.Throws<ArgumentException>(() => new DeferredReweightingPolicy(then, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeferredReweightingPolicy(new AcwaPolicy(2), 10, 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeferredReweightingPolicy(new AcwaPolicy(2), 10, -1));
    }
}
