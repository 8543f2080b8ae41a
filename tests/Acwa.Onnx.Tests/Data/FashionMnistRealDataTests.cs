using System.Diagnostics;
using Acwa.Onnx.Data;
using Xunit.Abstractions;

namespace Acwa.Onnx.Tests.Data;

public class FashionMnistRealDataTests(ITestOutputHelper output)
{
    /// <summary>Exact sizes of the paper protocol on the full set (installed) and on the embedded subset (1,000 / 200 per class).</summary>
    private sealed record Sizes(int PerClassTrain, int PerClassTest, int Imbalanced, int Train, int Validation, int Majority, int Minority, int Batches, float StatsTolerance);

    private static readonly Sizes Full = new(6000, 1000, 33000, 29700, 3300, 5400, 540, 233, 3e-4f);
    private static readonly Sizes Embedded = new(1000, 200, 5500, 4950, 550, 900, 90, 39, 1.5e-3f);

    [FashionMnistFact]
    public void PaperProtocolGivesTheDocumentedSizes()
    {
        var pair = DatasetSpec.Parse("fashion-mnist").Load();
        Assert.Equal(FashionMnist.DefaultOrigin, pair.Origin);
        var want = pair.Origin == DatasetOrigin.Files ? Full : Embedded;
        Assert.Equal(pair.Origin == DatasetOrigin.Files ? null : FashionMnist.EmbeddedNotice, pair.Notice);
        output.WriteLine($"{pair.Origin}: {pair.Train.Source}, {pair.Test.Source}");
        Assert.Equal(10 * want.PerClassTrain, pair.Train.Count);
        Assert.Equal(10 * want.PerClassTest, pair.Test.Count);
        Assert.Equal((1, 28, 28), (pair.Train.Channels, pair.Train.Height, pair.Train.Width));
        Assert.All(pair.Train.ClassCounts(), c => Assert.Equal(want.PerClassTrain, c));
        Assert.All(pair.Test.ClassCounts(), c => Assert.Equal(want.PerClassTest, c));

        var imbalanced = ImbalanceProtocol.Parse("step").Apply(pair.Train, seed: 0);
        Assert.Equal(want.Imbalanced, imbalanced.Count);
        Assert.Equal(Enumerable.Repeat(want.PerClassTrain, 5).Concat(Enumerable.Repeat(want.PerClassTrain / 10, 5)), imbalanced.ClassCounts());
        var (train, val) = StratifiedSplit.Split(imbalanced, 0.1, seed: 0);
        Assert.Equal(want.Train, train.Count);
        Assert.Equal(want.Validation, val.Count);
        Assert.Equal(Enumerable.Repeat(want.Majority, 5).Concat(Enumerable.Repeat(want.Minority, 5)), train.ClassCounts());

        // The documented normalisation constants are the full training set's own statistics (the subset's are within 1.5e-3).
        var stats = Normalization.Compute(pair.Train);
        Assert.Equal(Normalization.FashionMnist.Mean[0], stats.Mean[0], want.StatsTolerance);
        Assert.Equal(Normalization.FashionMnist.Std[0], stats.Std[0], want.StatsTolerance);

        // One epoch of batching, synchronous and prefetched (reported, not asserted: the machine is shared).
        var loader = new BatchLoader(train, new BatchLoaderOptions(BatchSize: 128, Seed: 1, Normalization: pair.Normalization));
        foreach (var b in loader.Epoch(0)) b.Dispose();   // warm-up
        var sw = Stopwatch.StartNew();
        int n = 0;
        foreach (var b in loader.Epoch(1)) { n += b.Count; b.Dispose(); }
        var syncMs = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        foreach (var b in loader.Prefetch(2)) b.Dispose();
        var prefetchMs = sw.Elapsed.TotalMilliseconds;
        Assert.Equal(want.Train, n);
        Assert.Equal(want.Batches, loader.BatchesPerEpoch);
        output.WriteLine($"Fashion-MNIST epoch of {n} images in {want.Batches} batches: synchronous {syncMs:F1} ms, prefetched {prefetchMs:F1} ms");
    }
}
