using Acwa.Onnx.Weighting;
using FsCheck.Xunit;

namespace Acwa.Onnx.Tests.Weighting;

public class AcwaPolicyTests
{
    /// <summary>The paper's update written literally, for comparison.</summary>
    private static double Literal(double w, double f, double alpha = 0.02, double beta = 0.9, double target = 1.0) =>
        beta * w + (1 - beta) * (w + alpha * (target - f));

    [Fact]
    public void DefaultsAreThePapers()
    {
        var p = new AcwaPolicy(3);
        Assert.Equal("acwa:alpha=0.02,beta=0.9,target=1,min=0.5,max=2,clip=on,init=1", p.Spec);
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, p.Current.ToArray());
        Assert.Equal(-1, p.LastEpoch);
        Assert.Equal(0.002, p.EffectiveStep, 15);
    }

    [Fact]
    public void OneEpochByHand()
    {
        // w = 1, f = 0.6: 0.9*1 + 0.1*(1 + 0.02*0.4) = 1 + 0.1*0.02*0.4 = 1.0008
        var p = new AcwaPolicy(4);
        var w = p.Update(Feedback.Of(0, [0.6, 1.0, 0.0, 0.85]));
        Assert.Equal(1.0008, w[0], 15);
        Assert.Equal(1.0, w[1], 15);       // f = target: no change
        Assert.Equal(1.002, w[2], 15);     // the largest possible step: (1-beta)*alpha*1
        Assert.Equal(1.0003, w[3], 15);
        Assert.Equal(w, p.Current.ToArray());
        Assert.Equal(0, p.LastEpoch);
    }

    [Fact]
    public void MultiEpochSequenceByHand()
    {
        var p = new AcwaPolicy(2);
        Feedback.Run(p, [[0.6, 0.9], [0.7, 0.95], [0.5, 1.0]]);
        // class 0: 1 + 0.002*(0.4 + 0.3 + 0.5) = 1.0024; class 1: 1 + 0.002*(0.1 + 0.05 + 0) = 1.0003
        Assert.Equal(1.0024, p.Current[0], 14);
        Assert.Equal(1.0003, p.Current[1], 14);
    }

    [Fact]
    public void AgreesWithTheLiteralFormulaToTheLastFewUlps()
    {
        var rng = new Random(7);
        foreach (var beta in new[] { 0.0, 0.5, 0.9, 0.99 })
        {
            foreach (var alpha in new[] { 0.02, 0.1, 1.0 })
            {
                var p = new AcwaPolicy(5, alpha: alpha, beta: beta, clip: false);
                var literal = new double[] { 1, 1, 1, 1, 1 };
                for (int epoch = 0; epoch < 50; epoch++)
                {
                    var f1 = Enumerable.Range(0, 5).Select(_ => rng.NextDouble()).ToArray();
                    var w = p.Update(Feedback.Of(epoch, f1));
                    for (int c = 0; c < 5; c++)
                    {
                        literal[c] = Literal(literal[c], f1[c], alpha, beta);
                        Assert.True(Math.Abs(w[c] - literal[c]) <= 1e-13 * Math.Abs(literal[c]), $"beta {beta}, alpha {alpha}, epoch {epoch}, class {c}: {w[c]:R} vs literal {literal[c]:R}");
                    }
                }
            }
        }
    }

    [Fact]
    public void ZeroErrorKeepsTheWeightExactlyWhereTheLiteralFormRoundsBelowIt()
    {
        const double w0 = 1.921741230589024;
        Assert.True(Literal(w0, 1.0) < w0);     // beta*w + (1-beta)*w loses an ulp here
        var p = new AcwaPolicy(1, initial: w0);
        Assert.Equal(Feedback.Bits(w0), Feedback.Bits(p.Update(Feedback.Of(0, [1.0]))[0]));
    }

    [Theory]
    [InlineData(0.02, 0.9)]
    [InlineData(0.1, 0.9)]
    [InlineData(0.02, 0.0)]
    [InlineData(0.5, 0.75)]
    public void EffectiveStepIsOneMinusBetaTimesAlpha(double alpha, double beta)
    {
        var p = new AcwaPolicy(3, alpha: alpha, beta: beta, clip: false);
        var errors = new[] { 0.0, 0.25, 1.0 };
        var w = p.Update(Feedback.Of(0, errors.Select(e => 1 - e).ToArray()));
        for (int c = 0; c < 3; c++)
            Assert.Equal((1 - beta) * alpha * errors[c], w[c] - 1.0, 14);
        Assert.Equal((1 - beta) * alpha, p.EffectiveStep, 15);
    }

    [Fact]
    public void BetaZeroAblationStepsByAlpha()
    {
        var p = PolicyFactory.Create("acwa:beta=0", [10, 10], 100);
        var w = p.Update(Feedback.Of(0, [0.6, 0.2]));
        Assert.Equal(1 + 0.02 * 0.4, w[0], 15);
        Assert.Equal(1 + 0.02 * 0.8, w[1], 15);
    }

    [Fact]
    public void AlphaAblationIsFiveTimesTheDefaultStep()
    {
        var paper = PolicyFactory.Create("acwa", [10], 100);
        var fast = PolicyFactory.Create("acwa:alpha=0.1", [10], 100);
        double d1 = paper.Update(Feedback.Of(0, [0.3]))[0] - 1;
        double d2 = fast.Update(Feedback.Of(0, [0.3]))[0] - 1;
        Assert.Equal(5.0, d2 / d1, 12);
    }

    [Fact]
    public void HundredEpochsWithDefaultsStayWithinOneToOnePointTwo()
    {
        // The arithmetic fact from docs/protocol.md: at most 0.002 per epoch, so the clip bounds are never reached.
        var p = new AcwaPolicy(3);
        Feedback.Run(p, Enumerable.Repeat(new[] { 0.0, 0.5, 1.0 }, 100));
        Assert.Equal(1.2, p.Current[0], 12);
        Assert.Equal(1.1, p.Current[1], 12);
        Assert.Equal(1.0, p.Current[2]);
    }

    [Fact]
    public void ClipBoundsApplyWhenOn()
    {
        // alpha 20: step (1-0.9)*20*e = 2e; up with target 1, down with target 0.
        var up = new AcwaPolicy(2, alpha: 20);
        var w = up.Update(Feedback.Of(0, [0.0, 0.9]));
        Assert.Equal(2.0, w[0]);            // 1 + 2 = 3 -> 2
        Assert.Equal(1.2, w[1], 14);        // inside the bounds: untouched
        var down = new AcwaPolicy(2, alpha: 20, target: 0);
        w = down.Update(Feedback.Of(0, [1.0, 0.1]));
        Assert.Equal(0.5, w[0]);            // 1 - 2 = -1 -> 0.5
        Assert.Equal(0.8, w[1], 14);
    }

    [Fact]
    public void NoClipLetsWeightsPassTheBounds()
    {
        var up = PolicyFactory.Create("acwa:alpha=20,clip=off", [5, 5], 100);
        var w = up.Update(Feedback.Of(0, [0.0, 0.9]));
        Assert.Equal(3.0, w[0], 14);
        var down = PolicyFactory.Create("acwa:alpha=20,target=0,clip=off", [5, 5], 100);
        w = down.Update(Feedback.Of(0, [1.0, 0.1]));
        Assert.Equal(-1.0, w[0], 14);       // nothing keeps a weight positive without the clip
    }

    [Property(MaxTest = 300)]
    public bool WeightsNeverFallWithTargetOne(byte[] f1Bytes, byte alphaByte, byte betaByte, ushort initBits, bool clip)
    {
        const int classes = 3;
        double alpha = alphaByte / 255.0 * 0.5;
        double beta = betaByte / 255.0;
        double initial = 0.5 + 1.5 * initBits / 65535.0;   // anywhere in the clip range
        var p = new AcwaPolicy(classes, alpha: alpha, beta: beta, clip: clip, initial: initial);
        var previous = p.Current.ToArray();
        for (int epoch = 0; epoch < f1Bytes.Length / classes; epoch++)
        {
            var f1 = Enumerable.Range(0, classes).Select(c => f1Bytes[epoch * classes + c] / 255.0).ToArray();
            var w = p.Update(Feedback.Of(epoch, f1, totalEpochs: 1000));
            for (int c = 0; c < classes; c++)
            {
                if (w[c] < previous[c])
                    return false;
            }
            previous = w;
        }
        return true;
    }

    [Fact]
    public void FedFromARealClassificationReport()
    {
        // Class 0: 3 of 4 right; class 1: 1 of 2 right, one sample of class 1 predicted as 0.
        var matrix = new Acwa.Onnx.Metrics.ConfusionMatrix(3);
        matrix.Accumulate([0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0]);
        var report = Acwa.Onnx.Metrics.ClassificationReport.Create(matrix);
        var feedback = EpochFeedback.FromReport(0, 10, report, [400, 200, 7]);
        Assert.Equal(FeedbackSource.Validation, feedback.Source);
        Assert.Equal(new long[] { 4, 2, 0 }, feedback.Support);
        Assert.Equal(0.75, feedback.F1[0], 14);      // P = 3/4, R = 3/4
        Assert.Equal(0.5, feedback.F1[1], 14);       // P = 1/2, R = 1/2
        Assert.Equal(0.0, feedback.F1[2]);           // absent class: 0 by the zero-division convention
        var w = new AcwaPolicy(3).Update(feedback);
        Assert.Equal(1 + 0.002 * 0.25, w[0], 14);
        Assert.Equal(1 + 0.002 * 0.5, w[1], 14);
        Assert.Equal(1.002, w[2], 14);
        Assert.Throws<ArgumentException>(() => EpochFeedback.FromReport(0, 10, report, [1, 2]));
    }

    [Fact]
    public void RejectsInvalidSettings()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new AcwaPolicy(2, beta: 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AcwaPolicy(2, alpha: double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AcwaPolicy(2, minWeight: 2, maxWeight: 1));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new AcwaPolicy(2, initial: 3));
        Assert.Contains("initial", e.Message);
        _ = new AcwaPolicy(2, initial: 3, clip: false);
        Assert.Throws<ArgumentOutOfRangeException>(() => new AcwaPolicy(0));
    }

    [Fact]
    public void RejectsBadFeedbackAndLeavesStateUnchanged()
    {
        var p = new AcwaPolicy(2);
        p.Update(Feedback.Of(0, [0.5, 0.5]));
        var before = p.Current.ToArray();
        var e = Assert.Throws<ArgumentException>(() => p.Update(Feedback.Of(1, [0.5, double.NaN])));
        Assert.Contains("F1[1]", e.Message);
        e = Assert.Throws<ArgumentException>(() => p.Update(Feedback.Of(1, [0.5, 1.5])));
        Assert.Contains("F1[1]", e.Message);
        e = Assert.Throws<ArgumentException>(() => p.Update(Feedback.Of(1, [0.5, 0.5, 0.5])));
        Assert.Contains("3 classes", e.Message);
        e = Assert.Throws<ArgumentException>(() => p.Update(Feedback.Of(0, [0.5, 0.5])));
        Assert.Contains("epoch 0", e.Message);
        e = Assert.Throws<ArgumentException>(() => p.Update(Feedback.Of(1, [0.5, 0.5], support: [1, -1])));
        Assert.Contains("Support[1]", e.Message);
        e = Assert.Throws<ArgumentException>(() => p.Update(Feedback.Of(5, [0.5, 0.5], totalEpochs: 5)));
        Assert.Contains("TotalEpochs", e.Message);
        Assert.Equal(before, p.Current.ToArray());
        Assert.Equal(0, p.LastEpoch);
        p.Update(Feedback.Of(3, [0.5, 0.5]));  // epochs may skip, but must increase
        Assert.Equal(3, p.LastEpoch);
    }
}
