using Acwa.Onnx.Weighting;

namespace Acwa.Onnx.Tests.Weighting;

public class PolicyFactoryTests
{
    private static readonly long[] Counts = [5000, 500, 50];

    [Theory]
    [InlineData("uniform", typeof(UniformPolicy), "uniform")]
    [InlineData("inv", typeof(InverseFrequencyPolicy), "inv")]
    [InlineData("cb", typeof(ClassBalancedPolicy), "cb:beta=0.9999")]
    [InlineData("cb:beta=0.999", typeof(ClassBalancedPolicy), "cb:beta=0.999")]
    [InlineData("drw", typeof(DeferredReweightingPolicy), "drw:at=0.8,then=[cb:beta=0.9999]")]
    [InlineData("drw:at=0.8,then=cb", typeof(DeferredReweightingPolicy), "drw:at=0.8,then=[cb:beta=0.9999]")]
    [InlineData("drw:epoch=160,then=[cb:beta=0.999]", typeof(DeferredReweightingPolicy), "drw:epoch=160,then=[cb:beta=0.999]")]
    [InlineData("acwa", typeof(AcwaPolicy), "acwa:alpha=0.02,beta=0.9,target=1,min=0.5,max=2,clip=on,init=1")]
    [InlineData("acwa:alpha=0.1", typeof(AcwaPolicy), "acwa:alpha=0.1,beta=0.9,target=1,min=0.5,max=2,clip=on,init=1")]
    [InlineData("acwa:beta=0", typeof(AcwaPolicy), "acwa:alpha=0.02,beta=0,target=1,min=0.5,max=2,clip=on,init=1")]
    [InlineData("acwa:clip=off", typeof(AcwaPolicy), "acwa:alpha=0.02,beta=0.9,target=1,min=0.5,max=2,clip=off,init=1")]
    [InlineData("acwa-centered", typeof(AcwaCenteredPolicy), "acwa-centered:eta=1,min=0.2,max=5,clip=on")]
    [InlineData("acwa-mult", typeof(AcwaMultiplicativePolicy), "acwa-mult:eta=2,min=0.2,max=5,clip=on")]
    [InlineData("acwa-prior", typeof(AcwaPriorPolicy), "acwa-prior:prior=cb,prior_beta=0.9999,ema=0.8,k=20,eta=1,shrink=0.25,min=0.2,max=5")]
    [InlineData(" ACWA : Alpha = 0.1 , CLIP = False ", typeof(AcwaPolicy), "acwa:alpha=0.1,beta=0.9,target=1,min=0.5,max=2,clip=off,init=1")]
    public void CreatesCanonicalSpecs(string spec, Type type, string canonical)
    {
        var p = PolicyFactory.Create(spec, Counts, 200);
        Assert.IsType(type, p);
        Assert.Equal(canonical, p.Spec);
        Assert.Equal(3, p.NumClasses);
        var again = PolicyFactory.Create(p.Spec, Counts, 200);
        Assert.Equal(p.Spec, again.Spec);
        Assert.Equal(p.SaveState().ToJsonString(), again.SaveState().ToJsonString());
    }

    [Fact]
    public void SpecRoundTripRecreatesBehaviour()
    {
        var rng = new Random(3);
        foreach (var info in PolicyFactory.Policies)
        {
            var p = PolicyFactory.Create(info.Name, Counts, 20);
            var q = PolicyFactory.Create(p.Spec, Counts, 20);
            for (int e = 0; e < 20; e++)
            {
                var fb = Feedback.Of(e, [rng.NextDouble(), rng.NextDouble(), rng.NextDouble()], [300, 30, 3], 20, Counts);
                Feedback.AssertBitEqual(p.Update(fb), q.Update(fb));
            }
        }
    }

    [Fact]
    public void ListingNamesEveryPolicyWithADescription()
    {
        Assert.Equal(["uniform", "inv", "cb", "drw", "acwa", "acwa-centered", "acwa-mult", "acwa-prior", "acwa-wilson", "cdb", "la-recall"], PolicyFactory.Names);
        foreach (var info in PolicyFactory.Policies)
        {
            Assert.False(string.IsNullOrWhiteSpace(info.Description));
            Assert.DoesNotContain('\n', info.ToString());
        }
        Assert.Contains("alpha=0.02", PolicyFactory.Policies.Single(p => p.Name == "acwa").Options);
    }

    [Theory]
    [InlineData("focal", "Unknown class-weight policy 'focal'", "valid policies: uniform, inv, cb, drw, acwa, acwa-centered, acwa-mult, acwa-prior")]
    [InlineData("acwa:gamma=2", "no option 'gamma'", "valid options: alpha, beta, target, min, max, clip, init")]
    [InlineData("uniform:beta=1", "no option 'beta'", "it takes no options")]
    [InlineData("acwa:alpha=abc", "'alpha' = 'abc' is not a finite number", "acwa:alpha=abc")]
    [InlineData("acwa:alpha=NaN", "'alpha' = 'NaN' is not a finite number", "")]
    [InlineData("acwa:beta=1.5", "'beta' = 1.5 is out of range", "[0, 1]")]
    [InlineData("acwa:min=1,max=0.5", "'max' = 0.5 is out of range", "at least min = 1")]
    [InlineData("acwa:init=3", "init", "clip range")]
    [InlineData("acwa:clip=maybe", "'clip' = 'maybe' is not on/off", "")]
    [InlineData("acwa:alpha=0.1,alpha=0.2", "'alpha' is given twice", "")]
    [InlineData("acwa:alpha", "'alpha' is not of the form key=value", "")]
    [InlineData("acwa:", "no options after it", "")]
    [InlineData("", "empty", "")]
    [InlineData(":alpha=1", "no name", "")]
    [InlineData("cb:beta=1", "'beta' = 1 is out of range", "[0, 1)")]
    [InlineData("drw:at=0.5,epoch=3", "not both", "")]
    [InlineData("drw:epoch=-1", "'epoch' = -1 is out of range", "")]
    [InlineData("drw:epoch=2.5", "'epoch' = '2.5' is not a whole number", "")]
    [InlineData("drw:then=[cb:beta=2]", "option 'then' is not valid", "'beta' = 2 is out of range")]
    [InlineData("drw:then=[cb", "unmatched '['", "")]
    [InlineData("drw:then=cb]", "unmatched ']'", "")]
    [InlineData("drw:then=lol", "option 'then' is not valid", "Unknown class-weight policy 'lol'")]
    [InlineData("acwa-prior:prior=sqrt", "'prior' = 'sqrt' is not one of cb, inv, uniform", "")]
    [InlineData("acwa-prior:shrink=0", "'shrink' = 0 is out of range", "(0, 1]")]
    [InlineData("acwa-mult:min=0", "'min' = 0 is out of range", "positive")]
    public void RejectsBadSpecsWithAMessageNamingTheProblem(string spec, string expected, string alsoExpected)
    {
        var e = Assert.Throws<FormatException>(() => PolicyFactory.Create(spec, Counts, 200));
        Assert.Contains(expected, e.Message);
        Assert.Contains(alsoExpected, e.Message);
    }

    [Fact]
    public void RejectsBadCountsAndEpochs()
    {
        Assert.Throws<ArgumentException>(() => PolicyFactory.Create("uniform", [0, 0], 10));
        Assert.Throws<ArgumentException>(() => PolicyFactory.Create("uniform", [], 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => PolicyFactory.Create("uniform", [1, 2], 0));
    }
}
