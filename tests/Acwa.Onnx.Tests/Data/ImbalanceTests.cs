using Acwa.Onnx.Data;

namespace Acwa.Onnx.Tests.Data;

public class ImbalanceTests
{
    [Fact]
    public void StepOnCifarCountsGives5000And500()
    {
        var counts = Enumerable.Repeat(5000, 10).ToArray();
        Assert.Equal(new[] { 5000, 5000, 5000, 5000, 5000, 500, 500, 500, 500, 500 }, ImbalanceProtocol.Parse("step").TargetCounts(counts));
        Assert.Equal(new[] { 5000, 5000, 5000, 5000, 5000, 1000, 1000, 1000, 1000, 1000 }, ImbalanceProtocol.Parse("step:0.2").TargetCounts(counts));
        Assert.Equal(new[] { 5000, 50, 5000, 50, 5000, 5000, 5000, 5000, 5000, 5000 }, ImbalanceProtocol.Parse("step:0.01:1,3").TargetCounts(counts));
    }

    [Fact]
    public void LongTailMatchesTheLdamCifar10Profile()
    {
        // Cao et al. 2019 (LDAM) list these per-class counts for CIFAR-10-LT with imbalance ratio 100.
        var counts = Enumerable.Repeat(5000, 10).ToArray();
        Assert.Equal(new[] { 5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50 }, ImbalanceProtocol.Parse("lt:100").TargetCounts(counts));
        Assert.Equal(counts, ImbalanceProtocol.Parse("lt:1").TargetCounts(counts));
        Assert.Equal(counts, ImbalanceProtocol.Parse("none").TargetCounts(counts));
    }

    [Fact]
    public void KeepsAtLeastOneAndNeverMoreThanAvailable()
    {
        Assert.Equal(new[] { 10, 0, 1, 3 }, ImbalanceProtocol.Parse("step:0.1").TargetCounts(new[] { 10, 0, 5, 30 }));
        Assert.Equal(new[] { 100, 2, 1 }, ImbalanceProtocol.Parse("lt:1000").TargetCounts(new[] { 100, 2, 7 }));
    }

    [Fact]
    public void ApplyKeepsAChosenSubsetInOrderAndIsSeeded()
    {
        var ds = DataFiles.Synthetic([50, 50, 50, 50]);
        var p = ImbalanceProtocol.Parse("step:0.2");
        var a = p.Apply(ds, 7);
        Assert.Equal(new[] { 50, 50, 10, 10 }, a.ClassCounts());
        var again = p.Apply(ds, 7);
        Assert.Equal(a.Pixels.ToArray(), again.Pixels.ToArray());
        var other = p.Apply(ds, 8);
        Assert.NotEqual(a.Pixels.ToArray(), other.Pixels.ToArray());
        // Images are filled with their original index: kept ones appear in increasing order and match their labels.
        var ids = Enumerable.Range(0, a.Count).Select(i => (int)a.Image(i)[0]).ToArray();
        Assert.Equal(ids.OrderBy(x => x), ids);
        for (int i = 0; i < a.Count; i++) Assert.Equal(ds.Label(ids[i]), a.Label(i));
        Assert.Same(ds, ImbalanceProtocol.None.Apply(ds, 1));
    }

    [Theory]
    [InlineData("step:0", "(0, 1]")]
    [InlineData("step:1.5", "(0, 1]")]
    [InlineData("step:x", "'x' is not a number")]
    [InlineData("lt:0.5", ">= 1")]
    [InlineData("lt", "unknown imbalance")]
    [InlineData("pareto:2", "unknown imbalance")]
    [InlineData("step:0.1:a", "class 'a'")]
    public void BadSpecsAreExplained(string spec, string message)
    {
        var e = Assert.Throws<FormatException>(() => ImbalanceProtocol.Parse(spec));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void SpecsRoundTrip()
    {
        foreach (var s in new[] { "none", "step:0.1", "step:0.05:0,9", "lt:100", "lt:10.5" })
            Assert.Equal(s, ImbalanceProtocol.Parse(s).ToString());
        Assert.Equal(ImbalanceProtocol.PaperStep, ImbalanceProtocol.Parse("STEP"));
    }

    [Fact]
    public void MinorityClassOutOfRangeIsNamed()
    {
        var e = Assert.Throws<ArgumentException>(() => ImbalanceProtocol.Parse("step:0.1:12").TargetCounts(new int[10]));
        Assert.Contains("minority class 12", e.Message);
    }

    [Fact]
    public void StratifiedSplitCounts()
    {
        Assert.Equal(new[] { 600, 60, 1, 1, 0, 0, 3 }, StratifiedSplit.HeldOutCounts(new[] { 6000, 600, 2, 5, 1, 0, 25 }, 0.1));
        Assert.Equal(new[] { 1, 2 }, StratifiedSplit.HeldOutCounts(new[] { 2, 3 }, 0.9));   // keeps >= 1 on each side
        Assert.Equal(new[] { 0, 0 }, StratifiedSplit.HeldOutCounts(new[] { 20, 30 }, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => StratifiedSplit.HeldOutCounts(new[] { 1 }, 1.0));
    }

    [Fact]
    public void StratifiedSplitIsDisjointCompleteAndSeeded()
    {
        var ds = DataFiles.Synthetic([40, 13, 2, 1, 7]);
        var (kept, held) = StratifiedSplit.SplitIndices(ds, 0.25, 3);
        Assert.Empty(kept.Intersect(held));
        Assert.Equal(Enumerable.Range(0, ds.Count), kept.Concat(held).OrderBy(i => i));
        Assert.Equal(kept.OrderBy(i => i), kept);
        Assert.Equal(new[] { 10, 3, 1, 0, 2 }, StratifiedSplit.HeldOutCounts(ds.ClassCounts(), 0.25));
        var (train, val) = StratifiedSplit.Split(ds, 0.25, 3);
        Assert.Equal(new[] { 30, 10, 1, 1, 5 }, train.ClassCounts());
        Assert.Equal(new[] { 10, 3, 1, 0, 2 }, val.ClassCounts());
        Assert.Equal(held, StratifiedSplit.SplitIndices(ds, 0.25, 3).HeldOut);
        Assert.NotEqual(held, StratifiedSplit.SplitIndices(ds, 0.25, 4).HeldOut);
        Assert.Equal(ds.Image(held[0]).ToArray(), val.Image(0).ToArray());
    }
}
