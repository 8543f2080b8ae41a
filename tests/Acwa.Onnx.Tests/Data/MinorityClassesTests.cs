using Acwa.Onnx.Data;

namespace Acwa.Onnx.Tests.Data;

/// <summary>The minority classes a run reports: chosen from the training counts, the paper's set only under its protocol.</summary>
public sealed class MinorityClassesTests
{
    [Fact]
    public void ClassesBelowHalfAnEqualShareAreTheMinorityWhateverTheirIndex()
    {
        Assert.Equal([1, 2], MinorityClasses.ByCounts([1000, 100, 20]));
        Assert.Equal([0, 1], MinorityClasses.ByCounts([20, 100, 1000])); // labels reversed: the largest class is not a minority
        Assert.Empty(MinorityClasses.ByCounts([50, 50, 40, 60]));        // balanced data have none
        Assert.Equal([1], MinorityClasses.ByCounts([900, 100]));          // 100 < 0.5 * 1000 / 2
        Assert.Empty(MinorityClasses.ByCounts([600, 400]));
        // CIFAR-10 lt:100: 645 is above half of the mean (620.3), 387 below
        Assert.Equal([5, 6, 7, 8, 9], MinorityClasses.ByCounts([5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]));
    }

    [Fact]
    public void ThePapersProtocolKeepsThePapersSetOtherProtocolsUseTheCounts()
    {
        long[] step = [5400, 5400, 5400, 5400, 5400, 540, 540, 540, 540, 540];
        Assert.True(MinorityClasses.IsPaperProtocol(ImbalanceProtocol.Parse("step")));
        Assert.True(MinorityClasses.IsPaperProtocol(ImbalanceProtocol.Parse("step:0.1")));
        Assert.Equal([5, 6, 7, 8, 9], MinorityClasses.For(ImbalanceProtocol.Parse("step"), step));
        // step:0.6 leaves 3240 of 5400: not below half an equal share, so no minority by the counts
        Assert.False(MinorityClasses.IsPaperProtocol(ImbalanceProtocol.Parse("step:0.6")));
        Assert.Empty(MinorityClasses.For(ImbalanceProtocol.Parse("step:0.6"), [5400, 5400, 3240, 3240]));
        Assert.Equal([0, 1], MinorityClasses.For(ImbalanceProtocol.None, [20, 100, 1000]));
        Assert.Equal([2, 3, 4], MinorityClasses.UpperHalf(5));
        Assert.Contains("paper", MinorityClasses.Rule(ImbalanceProtocol.PaperStep));
        Assert.Contains("0.5 N/C", MinorityClasses.Rule(ImbalanceProtocol.None));
    }
}
