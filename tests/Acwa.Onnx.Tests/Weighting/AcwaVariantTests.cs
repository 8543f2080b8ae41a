using Acwa.Onnx.Weighting;
using Xunit.Abstractions;

namespace Acwa.Onnx.Tests.Weighting;

public class AcwaVariantTests(ITestOutputHelper output)
{
    private readonly ITestOutputHelper _output = output;

    [Fact]
    public void CenteredByHand()
    {
        var p = new AcwaCenteredPolicy(3);
        Assert.Equal("acwa-centered:eta=1,min=0.2,max=5,clip=on", p.Spec);
        // mean F1 0.6: w += 1*(0.6 - f) -> [0.7, 1.0, 1.3]; the sum stays 3, so normalising changes nothing.
        var w = p.Update(Feedback.Of(0, [0.9, 0.6, 0.3]));
        Assert.Equal(0.7, w[0], 14);
        Assert.Equal(1.0, w[1], 14);
        Assert.Equal(1.3, w[2], 14);
        // Weights can fall as well as rise: the roles swap.
        w = p.Update(Feedback.Of(1, [0.3, 0.6, 0.9]));
        Assert.Equal(1.0, w[0], 14);
        Assert.Equal(1.0, w[2], 14);
    }

    [Fact]
    public void CenteredNormalisesThenClips()
    {
        var p = new AcwaCenteredPolicy(3, eta: 5);
        // u = [1 - 1.5, 1, 1 + 1.5] = [-0.5, 1, 2.5], sum 3 (mean 1) -> clip -> [0.2, 1, 2.5]
        var w = p.Update(Feedback.Of(0, [0.9, 0.6, 0.3]));
        Assert.Equal(new[] { 0.2, 1.0, 2.5 }, w.Select(x => Math.Round(x, 12)));
        // Equal F1: u = w, sum 3.7 -> scale 3/3.7 -> [0.16216, 0.81081, 2.02703] -> clip the first to 0.2
        w = p.Update(Feedback.Of(1, [0.5, 0.5, 0.5]));
        Assert.Equal(0.2, w[0], 14);
        Assert.Equal(3.0 / 3.7, w[1], 14);
        Assert.Equal(2.5 * 3.0 / 3.7, w[2], 14);
        var unclipped = PolicyFactory.Create("acwa-centered:eta=5,clip=off", [1, 1, 1], 10);
        Assert.Equal(-0.5, unclipped.Update(Feedback.Of(0, [0.9, 0.6, 0.3], totalEpochs: 10))[0], 14);
    }

    [Fact]
    public void MultiplicativeByHand()
    {
        var p = new AcwaMultiplicativePolicy(3);
        Assert.Equal("acwa-mult:eta=2,min=0.2,max=5,clip=on", p.Spec);
        var w = p.Update(Feedback.Of(0, [0.9, 0.6, 0.3]));
        double a = Math.Exp(2 * -0.3), b = 1.0, c = Math.Exp(2 * 0.3), sum = a + b + c;
        Assert.Equal(3 * a / sum, w[0], 14);
        Assert.Equal(3 * b / sum, w[1], 14);
        Assert.Equal(3 * c / sum, w[2], 14);
        Assert.Equal(1.0, w.Average(), 14);
        // A second step multiplies again.
        w = p.Update(Feedback.Of(1, [0.9, 0.6, 0.3]));
        double a2 = 3 * a / sum * a, b2 = 3 * b / sum * b, c2 = 3 * c / sum * c, sum2 = a2 + b2 + c2;
        Assert.Equal(0.1955251679468, 3 * a2 / sum2, 12);
        Assert.Equal(0.2, w[0]);     // below the lower bound: clipped after normalising
        Assert.Equal(3 * c2 / sum2, w[2], 13);
    }

    [Fact]
    public void MultiplicativeClipsAtTheBounds()
    {
        var p = PolicyFactory.Create("acwa-mult:eta=20", [1, 1], 10);
        var w = p.Update(Feedback.Of(0, [1.0, 0.0], totalEpochs: 10));
        Assert.Equal(0.2, w[0]);     // 2*e^-10/(e^-10 + e^10) ~ 4e-9 -> 0.2
        Assert.Equal(2.0, w[1], 7);  // 2 - 4e-9, inside [0.2, 5]
        var off = PolicyFactory.Create("acwa-mult:eta=20,clip=off", [1, 1], 10);
        Assert.True(off.Update(Feedback.Of(0, [1.0, 0.0], totalEpochs: 10))[0] < 1e-8);
    }

    [Fact]
    public void PriorByHand()
    {
        // counts [3, 1] with the inverse-frequency prior: p = [0.5, 1.5]; k = 10, eta 1, shrink 0.25, ema 0.8.
        var p = new AcwaPriorPolicy([3, 1], PriorKind.InverseFrequency, k: 10);
        Assert.Equal(new[] { 0.5, 1.5 }, p.Current.ToArray());
        long[] support = [30, 10];
        // Epoch 0: s = f = [0.9, 0.5], m = 0.7; e = [30/40*(-0.2), 10/20*(0.2)] = [-0.15, 0.1]; a = e.
        var w = p.Update(Feedback.Of(0, [0.9, 0.5], support));
        AssertPriorWeights([0.5, 1.5], [-0.15, 0.1], w);
        Assert.Equal(new[] { 0.9, 0.5 }, p.SmoothedF1.ToArray());
        // Epoch 1: f = [0.7, 0.7]: s = [0.86, 0.54], m = 0.7, e = [0.75*(-0.16), 0.5*0.16] = [-0.12, 0.08];
        // a = 0.75*a + e = [-0.2325, 0.155].
        w = p.Update(Feedback.Of(1, [0.7, 0.7], support));
        AssertPriorWeights([0.5, 1.5], [-0.2325, 0.155], w);
        Assert.Equal(0.86, p.SmoothedF1[0], 14);
        Assert.Equal(0.54, p.SmoothedF1[1], 14);
    }

    private static void AssertPriorWeights(double[] prior, double[] logAdjust, double[] actual)
    {
        var raw = prior.Select((q, c) => q * Math.Exp(logAdjust[c])).ToArray();
        double scale = raw.Length / raw.Sum();
        for (int c = 0; c < raw.Length; c++)
            Assert.Equal(raw[c] * scale, actual[c], 13);
    }

    [Fact]
    public void PriorStartsAtTheClassBalancedWeightsAndIgnoresUnsupportedClasses()
    {
        long[] counts = [5000, 500, 50];
        var start = ClassPriors.ClassBalanced(counts, 0.9999);
        Assert.True(start[0] < 0.2);
        start[0] = 0.2;   // the prior is clipped like every later weight
        var p = PolicyFactory.Create("acwa-prior", counts, 10);
        Assert.Equal(start, p.Current.ToArray());
        // Class 2 has no validation support: its F1 of 0 neither moves it nor drags the mean down.
        var w = p.Update(Feedback.Of(0, [0.8, 0.8, 0.0], support: [100, 100, 0], totalEpochs: 10));
        Assert.Equal(start, w, new ToleranceComparer(1e-14));
    }

    [Fact]
    public void PriorFollowsAPersistentSignalAndSettles()
    {
        var p = PolicyFactory.Create("acwa-prior:prior=uniform", [1000, 1000, 1000, 1000], 100);
        var weights = Feedback.Run(p, Enumerable.Repeat(new[] { 0.9, 0.9, 0.6, 0.9 }, 60), support: [1000, 1000, 1000, 1000]);
        var last = weights[^1];
        Assert.True(last[2] > 2.5 * last[0], $"hard class {last[2]:R} vs easy class {last[0]:R}");
        // Leaky integration: the weights converge (no drift toward the clip bounds).
        for (int c = 0; c < 4; c++)
            Assert.Equal(weights[^2][c], last[c], 6);
        Assert.True(last[2] < 5.0);
    }

    /// <summary>
    /// Noisy small-support feedback: two big classes with 500 validation samples, two minority classes with 5.
    /// Observed F1 = true F1 + Gaussian noise with sd sqrt(f(1-f)/n) + 0.01, clamped to [0, 1]. The stable
    /// variant must move its weights much less from epoch to epoch than the plain variants, for every seed.
    /// </summary>
    [Fact]
    public void PriorThrashesLessThanCenteredAndMultiplicativeOnNoisyFeedback()
    {
        long[] counts = [5000, 5000, 500, 500];
        long[] support = [500, 500, 5, 5];
        double[] trueF1 = [0.9, 0.8, 0.7, 0.7];
        var specs = new[] { "acwa-prior", "acwa-centered", "acwa-mult", "acwa-prior:ema=0,k=0", "acwa", "acwa-wilson", "acwa-wilson:ema=0", "cdb" };
        var results = specs.ToDictionary(s => s, _ => new List<double>());
        for (int seed = 1; seed <= 10; seed++)
        {
            var rng = new Random(seed);
            var sequence = new List<double[]>();
            for (int epoch = 0; epoch < 60; epoch++)
            {
                sequence.Add(trueF1.Select((f, c) =>
                    Math.Clamp(f + Gaussian(rng) * (Math.Sqrt(f * (1 - f) / support[c]) + 0.01), 0, 1)).ToArray());
            }
            foreach (var spec in specs)
            {
                var w = Feedback.Run(PolicyFactory.Create(spec, counts, 60), sequence, support, totalEpochs: 60);
                results[spec].Add(MeanLogVariation(w, from: 20));
            }
            double prior = results["acwa-prior"][^1];
            Assert.True(prior < 0.25 * results["acwa-centered"][^1], $"seed {seed}: acwa-prior {prior:F4} vs acwa-centered {results["acwa-centered"][^1]:F4}");
            Assert.True(prior < 0.25 * results["acwa-mult"][^1], $"seed {seed}: acwa-prior {prior:F4} vs acwa-mult {results["acwa-mult"][^1]:F4}");
            // The parts matter: without smoothing and support confidence the same rule thrashes more.
            Assert.True(prior < 0.5 * results["acwa-prior:ema=0,k=0"][^1], $"seed {seed}: acwa-prior {prior:F4} vs no ema/confidence {results["acwa-prior:ema=0,k=0"][^1]:F4}");
            // The Wilson gate keeps the 5-sample classes still: far calmer than the ungated rule, with or without the EMA.
            Assert.True(results["acwa-wilson"][^1] < 0.25 * results["acwa-prior:ema=0,k=0"][^1], $"seed {seed}: acwa-wilson {results["acwa-wilson"][^1]:F4}");
            Assert.True(results["acwa-wilson:ema=0"][^1] < 0.5 * results["acwa-prior:ema=0,k=0"][^1], $"seed {seed}: acwa-wilson:ema=0 {results["acwa-wilson:ema=0"][^1]:F4}");
        }
        foreach (var (spec, values) in results)
        {
            var sorted = values.Order().ToArray();
            _output.WriteLine($"{spec,-22} mean |d log w| per epoch: median {sorted[sorted.Length / 2]:F5} (min {sorted[0]:F5}, max {sorted[^1]:F5})");
        }
    }

    /// <summary>Mean over classes of the average |log w_t - log w_{t-1}| from epoch <paramref name="from"/> on.</summary>
    internal static double MeanLogVariation(List<double[]> weights, int from)
    {
        double total = 0;
        int steps = 0;
        for (int t = Math.Max(from, 1); t < weights.Count; t++)
        {
            for (int c = 0; c < weights[t].Length; c++)
                total += Math.Abs(Math.Log(weights[t][c]) - Math.Log(weights[t - 1][c]));
            steps++;
        }
        return total / (steps * weights[0].Length);
    }

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(double obj) => 0;
    }
}
