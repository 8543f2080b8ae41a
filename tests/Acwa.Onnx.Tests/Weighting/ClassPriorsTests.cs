using Acwa.Onnx.Weighting;

namespace Acwa.Onnx.Tests.Weighting;

public class ClassPriorsTests
{
    [Fact]
    public void UniformIsAllOnesAndIgnoresFeedback()
    {
        var p = new UniformPolicy(3);
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, p.Current.ToArray());
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, p.Update(Feedback.Of(0, [0.1, 0.5, 0.9])));
    }

    [Fact]
    public void InverseFrequencyByHand()
    {
        // 1/n = [0.01, 0.1, 0.05], sum 0.16, mean-1 scale 3/0.16 = 18.75
        var w = ClassPriors.InverseFrequency([100, 10, 20]);
        Assert.Equal(0.1875, w[0], 14);
        Assert.Equal(1.875, w[1], 14);
        Assert.Equal(0.9375, w[2], 14);
        Assert.Equal(1.0, w.Average(), 14);
        var p = new InverseFrequencyPolicy([100, 10, 20]);
        Assert.Equal(w, p.Current.ToArray());
        Assert.Equal(w, p.Update(Feedback.Of(0, [0.1, 0.5, 0.9])));
    }

    [Fact]
    public void InverseFrequencyGivesAbsentClassesOneAndKeepsMeanOne()
    {
        var w = ClassPriors.InverseFrequency([100, 0, 300]);
        Assert.Equal(1.0, w[1]);
        Assert.Equal(1.5, w[0], 14);   // 1/100 : 1/300 = 3 : 1, mean 1 over the two present classes
        Assert.Equal(0.5, w[2], 14);
        Assert.Equal(1.0, w.Average(), 14);
    }

    [Fact]
    public void EffectiveNumberByHand()
    {
        Assert.Equal(1.0, ClassPriors.EffectiveNumber(1, 0.9), 14);
        Assert.Equal(1.9, ClassPriors.EffectiveNumber(2, 0.9), 14);          // 1 + beta
        Assert.Equal(2.71, ClassPriors.EffectiveNumber(3, 0.9), 14);         // 1 + beta + beta^2
        Assert.Equal(0.0, ClassPriors.EffectiveNumber(0, 0.9));
        Assert.Equal(1.0, ClassPriors.EffectiveNumber(500, 0.0));
    }

    [Fact]
    public void ClassBalancedMatchesHandComputation()
    {
        // Reference values computed independently with numpy: w = 1/E_n normalised to sum C.
        var w = ClassPriors.ClassBalanced([1000, 10], 0.99);
        Assert.Equal(0.17455299, w[0], 7);
        Assert.Equal(1.82544701, w[1], 7);
        w = ClassPriors.ClassBalanced([100, 10, 1], 0.9);
        Assert.Equal(0.23932924, w[0], 7);
        Assert.Equal(0.36744197, w[1], 7);
        Assert.Equal(2.39322879, w[2], 7);
        Assert.Equal(3.0, w.Sum(), 13);
        // Step-imbalanced CIFAR-10 with the default beta 0.9999.
        var cifar = new ClassBalancedPolicy([5000, 5000, 5000, 5000, 5000, 500, 500, 500, 500, 500]);
        Assert.Equal(0.22056362, cifar.Current[0], 7);
        Assert.Equal(1.77943638, cifar.Current[9], 7);
        Assert.Equal(10.0, cifar.Current.ToArray().Sum(), 12);
        Assert.Equal("cb:beta=0.9999", cifar.Spec);
    }

    [Fact]
    public void ClassBalancedLimits()
    {
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, ClassPriors.ClassBalanced([1000, 10, 1], 0.0));
        var nearInv = ClassPriors.ClassBalanced([100, 10, 20], 0.999999999);
        var inv = ClassPriors.InverseFrequency([100, 10, 20]);
        for (int c = 0; c < 3; c++)
            Assert.Equal(inv[c], nearInv[c], 5);
        var withAbsent = ClassPriors.ClassBalanced([1000, 0, 10], 0.99);
        Assert.Equal(1.0, withAbsent[1]);
        Assert.Equal(3.0, withAbsent.Sum(), 13);
        Assert.Equal(0.17455299, withAbsent[0], 7);
    }

    [Fact]
    public void LdamMarginsByHand()
    {
        var m = ClassPriors.LdamMargins([5000, 500, 50]);
        Assert.Equal(0.15811388, m[0], 7);
        Assert.Equal(0.28117066, m[1], 7);
        Assert.Equal(0.5, m[2], 14);
        var scaled = ClassPriors.LdamMargins([16, 1, 0], maxMargin: 1.0);
        Assert.Equal(0.5, scaled[0], 14);   // 16^(-1/4) = 0.5, largest (n = 1) is 1
        Assert.Equal(1.0, scaled[1], 14);
        Assert.Equal(1.0, scaled[2], 14);   // absent class: the largest margin
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassPriors.LdamMargins([1, 2], 0));
    }

    [Fact]
    public void LogPriorsByHand()
    {
        var lp = ClassPriors.LogPriors([75, 25, 0]);
        Assert.Equal(Math.Log(0.75), lp[0], 14);
        Assert.Equal(Math.Log(0.25), lp[1], 14);
        Assert.Equal(Math.Log(1.0 / 100), lp[2], 14);   // absent class counted as one sample
    }

    [Fact]
    public void RejectsBadCounts()
    {
        Assert.Contains("[1]", Assert.Throws<ArgumentException>(() => ClassPriors.InverseFrequency([5, -1])).Message);
        Assert.Contains("zero", Assert.Throws<ArgumentException>(() => ClassPriors.ClassBalanced([0, 0], 0.9)).Message);
        Assert.Throws<ArgumentException>(() => ClassPriors.LogPriors([]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassPriors.ClassBalanced([5, 1], 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClassBalancedPolicy([5, 1], -0.1));
    }
}
