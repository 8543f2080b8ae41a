using System.Diagnostics;
using Acwa.Onnx.Data;
using Xunit.Abstractions;

namespace Acwa.Onnx.Tests.Data;

public class FashionMnistRealDataTests(ITestOutputHelper output)
{
    [FashionMnistFact]
    public void PaperProtocolGives29700TrainingImages()
    {
        var pair = DatasetSpec.Parse("fashion-mnist").Load();
        Assert.Equal(60000, pair.Train.Count);
        Assert.Equal(10000, pair.Test.Count);
        Assert.Equal((1, 28, 28), (pair.Train.Channels, pair.Train.Height, pair.Train.Width));
        Assert.All(pair.Train.ClassCounts(), c => Assert.Equal(6000, c));
        Assert.All(pair.Test.ClassCounts(), c => Assert.Equal(1000, c));

        var imbalanced = ImbalanceProtocol.Parse("step").Apply(pair.Train, seed: 0);
        Assert.Equal(33000, imbalanced.Count);
        Assert.Equal(new[] { 6000, 6000, 6000, 6000, 6000, 600, 600, 600, 600, 600 }, imbalanced.ClassCounts());
        var (train, val) = StratifiedSplit.Split(imbalanced, 0.1, seed: 0);
        Assert.Equal(29700, train.Count);
        Assert.Equal(3300, val.Count);
        Assert.Equal(new[] { 5400, 5400, 5400, 5400, 5400, 540, 540, 540, 540, 540 }, train.ClassCounts());

        // The documented normalisation constants are the training set's own statistics.
        var stats = Normalization.Compute(pair.Train);
        Assert.Equal(Normalization.FashionMnist.Mean[0], stats.Mean[0], 3e-4f);
        Assert.Equal(Normalization.FashionMnist.Std[0], stats.Std[0], 3e-4f);

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
        Assert.Equal(29700, n);
        Assert.Equal(233, loader.BatchesPerEpoch);
        output.WriteLine($"Fashion-MNIST epoch of {n} images in 233 batches: synchronous {syncMs:F1} ms, prefetched {prefetchMs:F1} ms");
    }
}
