using Acwa.Onnx.Data;

namespace Acwa.Onnx.Tests.Data;

public class BatchLoaderTests
{
    private static List<(float[] Images, long[] Labels, int[] Indices)> Take(IEnumerable<Batch> batches, bool slowConsumer = false)
    {
        var list = new List<(float[], long[], int[])>();
        foreach (var b in batches)
        {
            if (slowConsumer) Thread.Sleep(2);
            list.Add((b.Images.ToArray(), b.Labels.ToArray(), b.Indices.ToArray()));
            b.Dispose();
        }
        return list;
    }

    private static void AssertSame(List<(float[] Images, long[] Labels, int[] Indices)> a, List<(float[] Images, long[] Labels, int[] Indices)> b)
    {
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].Indices, b[i].Indices);
            Assert.Equal(a[i].Labels, b[i].Labels);
            Assert.Equal(a[i].Images, b[i].Images);
        }
    }

    private static ImageDataset Colour(int n, int seed)
    {
        var pixels = DataFiles.Bytes(n * 3 * 8 * 8, seed);
        var labels = Enumerable.Range(0, n).Select(i => i % 4).ToArray();
        return new ImageDataset(pixels, labels, 3, 8, 8, ["a", "b", "c", "d"], "random");
    }

    [Fact]
    public void BatchCountsAndPartialBatch()
    {
        var ds = DataFiles.Synthetic([6, 5]);   // 11 images
        var keep = new BatchLoader(ds, new BatchLoaderOptions(BatchSize: 4));
        Assert.Equal(3, keep.BatchesPerEpoch);
        var sizes = keep.Epoch(0).Select(b => { var c = b.Count; b.Dispose(); return c; }).ToArray();
        Assert.Equal(new[] { 4, 4, 3 }, sizes);
        var drop = new BatchLoader(ds, new BatchLoaderOptions(BatchSize: 4, DropLast: true));
        Assert.Equal(2, drop.BatchesPerEpoch);
        Assert.Equal(2, drop.Epoch(0).Count());
        using var last = keep.CreateBatch(0, 2);
        Assert.Equal(3 * 16, last.Images.Length);
        Assert.Equal(new long[] { 3, 1, 4, 4 }, last.ImageShape);
    }

    [Fact]
    public void EpochVisitsEveryImageOnceAndLabelsMatch()
    {
        var ds = DataFiles.Synthetic([30, 7, 13]);
        var loader = new BatchLoader(ds, new BatchLoaderOptions(BatchSize: 8, Seed: 3));
        var batches = Take(loader.Epoch(2));
        var seen = batches.SelectMany(b => b.Indices).ToArray();
        Assert.Equal(Enumerable.Range(0, ds.Count), seen.OrderBy(i => i));
        Assert.NotEqual(Enumerable.Range(0, ds.Count), seen);   // shuffled
        foreach (var b in batches)
            for (int k = 0; k < b.Indices.Length; k++)
            {
                Assert.Equal(ds.Label(b.Indices[k]), b.Labels[k]);
                Assert.Equal(b.Indices[k] / 255f, b.Images[k * 16 + 5]);   // image i is filled with byte i, /255 by default
            }
    }

    [Fact]
    public void ShufflingAndAugmentationAreSeeded()
    {
        var ds = Colour(40, 1);
        BatchLoader L(ulong seed) => new(ds, new BatchLoaderOptions(BatchSize: 16, Seed: seed, Augmentation: Augmentation.PadCropFlip));
        var a = Take(L(9).Epoch(1));
        AssertSame(a, Take(L(9).Epoch(1)));
        var otherSeed = Take(L(10).Epoch(1));
        Assert.NotEqual(a[0].Indices, otherSeed[0].Indices);
        var otherEpoch = Take(L(9).Epoch(2));
        Assert.NotEqual(a[0].Indices, otherEpoch[0].Indices);
        // Same order without shuffling, but the augmentation still depends on the seed.
        var s1 = Take(new BatchLoader(ds, new BatchLoaderOptions(BatchSize: 16, Shuffle: false, Seed: 1, Augmentation: Augmentation.PadCropFlip)).Epoch(0));
        var s2 = Take(new BatchLoader(ds, new BatchLoaderOptions(BatchSize: 16, Shuffle: false, Seed: 2, Augmentation: Augmentation.PadCropFlip)).Epoch(0));
        Assert.Equal(s1[0].Indices, s2[0].Indices);
        Assert.NotEqual(s1[0].Images, s2[0].Images);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]   // padding wider than the image
    public void CropAndFlipMoveKnownPixels(int pad)
    {
        // One 2-channel 5x6 image whose pixel (c, y, x) = 1 + 50c + 10y + x.
        int h = 5, w = 6;
        var px = new byte[2 * h * w];
        for (int c = 0; c < 2; c++) for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) px[(c * h + y) * w + x] = (byte)(1 + 50 * c + 10 * y + x);
        var ds = new ImageDataset(px, [0], 2, h, w, ["only"], "known");
        var norm = new Normalization([0.5f, 0.25f], [0.5f, 2f]);
        var aug = new Augmentation(pad, true);
        for (int epoch = 0; epoch < 60; epoch++)
        {
            var loader = new BatchLoader(ds, new BatchLoaderOptions(BatchSize: 1, Seed: 11, Normalization: norm, Augmentation: aug));
            using var batch = loader.CreateBatch(epoch, 0);
            // Replay the documented draw order: oy, ox in [0, 2p], then the flip bit.
            var (oy, ox, flip) = aug.Draw(Xoshiro256StarStar.Derive(11, 0xA0617, (ulong)epoch, 0));
            for (int c = 0; c < 2; c++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                    {
                        int xc = flip ? w - 1 - x : x;
                        int sy = y + oy - pad, sx = xc + ox - pad;
                        int raw = sy >= 0 && sy < h && sx >= 0 && sx < w ? px[(c * h + sy) * w + sx] : 0;
                        float want = (raw / 255f - norm.Mean[c]) / norm.Std[c];
                        Assert.Equal(want, batch.Images[(c * h + y) * w + x]);
                    }
        }
    }

    [Fact]
    public void AugmentationDrawsCoverAllOffsetsAndBothFlips()
    {
        var aug = Augmentation.PadCropFlip;
        var rng = new Xoshiro256StarStar(1);
        var seen = new HashSet<(int, int, bool)>();
        for (int i = 0; i < 5000; i++) seen.Add(aug.Draw(rng));
        Assert.Equal(9 * 9 * 2, seen.Count);
        Assert.Equal((0, 0, false), Augmentation.None.Draw(rng) is var (a, b, f) ? (a, b, f) : default);
    }

    [Fact]
    public void ExplicitCropOffsetsOnAKnownImage()
    {
        // 1-channel 4x4 image with values 1..16; pad 1. Search the epochs for given draws and check the exact output.
        var px = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();
        var ds = new ImageDataset(px, [0], 1, 4, 4, ["x"], "k");
        var aug = new Augmentation(1, true);
        var loader = new BatchLoader(ds, new BatchLoaderOptions(BatchSize: 1, Augmentation: aug));
        float[]? shiftedDownRight = null, flippedCentre = null;
        for (int e = 0; e < 200 && (shiftedDownRight is null || flippedCentre is null); e++)
        {
            var d = aug.Draw(Xoshiro256StarStar.Derive(0, 0xA0617, (ulong)e, 0));
            using var b = loader.CreateBatch(e, 0);
            var raw = b.Images.Select(v => MathF.Round(v * 255)).ToArray();   // default normalisation is x/255
            if (d == (0, 0, false)) shiftedDownRight = raw;
            if (d == (1, 1, true)) flippedCentre = raw;
        }
        // offset (0,0) with pad 1: the content moves one pixel down and right, zeros enter at top and left.
        Assert.Equal(new float[] { 0, 0, 0, 0, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11 }, shiftedDownRight);
        // offset (1,1) = no shift, then mirrored left-right.
        Assert.Equal(new float[] { 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13 }, flippedCentre);
    }

    [Fact]
    public void NormalisationValues()
    {
        var px = new byte[] { 0, 51, 255, 102, /* channel 1 */ 0, 255, 128, 64 };
        var ds = new ImageDataset(px, [0], 2, 2, 2, ["x"], "n");
        var loader = new BatchLoader(ds, new BatchLoaderOptions(BatchSize: 1, Normalization: new Normalization([0.2f, 0.5f], [0.4f, 0.25f])));
        using var b = loader.Sequential().Single();
        var expect = new[] { (0f - 0.2f) / 0.4f, (0.2f - 0.2f) / 0.4f, (1f - 0.2f) / 0.4f, (0.4f - 0.2f) / 0.4f, -2f, 2f, (128 / 255f - 0.5f) / 0.25f, (64 / 255f - 0.5f) / 0.25f };
        for (int i = 0; i < 8; i++) Assert.Equal(expect[i], b.Images[i], 1e-6f);

        var fm = Normalization.FashionMnist.LookupTable(0);
        Assert.Equal((1f - 0.2860f) / 0.3530f, fm[255], 1e-6f);
        Assert.Equal(-0.2860f / 0.3530f, fm[0], 1e-6f);
        Assert.Throws<ArgumentException>(() => new BatchLoader(ds, new BatchLoaderOptions(Normalization: Normalization.Cifar10)));
    }

    [Fact]
    public void ComputedStatisticsArePopulationMeanAndStd()
    {
        var px = new byte[] { 0, 255, 0, 255, /* ch1 constant */ 51, 51, 51, 51 };
        var n = Normalization.Compute(new ImageDataset(px, [0], 2, 2, 2, ["x"], "s"));
        Assert.Equal(0.5f, n.Mean[0], 1e-6f);
        Assert.Equal(0.5f, n.Std[0], 1e-6f);
        Assert.Equal(0.2f, n.Mean[1], 1e-6f);
        Assert.Equal(1f, n.Std[1]);   // constant channel
    }

    [Fact]
    public void PrefetchYieldsTheSameBatchesAsTheSynchronousEpoch()
    {
        var ds = Colour(203, 4);
        var loader = new BatchLoader(ds, new BatchLoaderOptions(BatchSize: 16, Seed: 5, Augmentation: Augmentation.PadCropFlip, PrefetchDepth: 3));
        var sync = Take(loader.Epoch(3));
        Assert.Equal(13, sync.Count);
        AssertSame(sync, Take(loader.Prefetch(3)));
        AssertSame(sync, Take(loader.Prefetch(3), slowConsumer: true));
        // Buffers are reused: the pool created only a handful of batch objects for dozens of batches.
        Assert.InRange(loader.Pool.Allocated, 1, 2 * (3 + 3));
    }

    [Fact]
    public void ResumeMidEpochGivesIdenticalRemainingBatches()
    {
        var ds = Colour(100, 6);
        var opts = new BatchLoaderOptions(BatchSize: 8, Seed: 77, Augmentation: Augmentation.PadCropFlip);
        var full = Take(new BatchLoader(ds, opts).Epoch(4));
        // A fresh loader (as after a restart) resumed at (epoch 4, batch 5) continues bit-identically.
        var resumed = Take(new BatchLoader(ds, opts).Epoch(4, startBatch: 5));
        AssertSame(full.Skip(5).ToList(), resumed);
        AssertSame(full.Skip(5).ToList(), Take(new BatchLoader(ds, opts).Prefetch(4, startBatch: 5)));
        Assert.Empty(Take(new BatchLoader(ds, opts).Epoch(4, startBatch: 13)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchLoader(ds, opts).Epoch(4, startBatch: 14));
    }

    [Fact]
    public void AbandoningPrefetchStopsTheProducer()
    {
        var ds = Colour(500, 7);
        var loader = new BatchLoader(ds, new BatchLoaderOptions(BatchSize: 4, PrefetchDepth: 2));
        int n = 0;
        foreach (var b in loader.Prefetch(0))
        {
            b.Dispose();
            if (++n == 3) break;   // disposes the enumerator: producer cancelled, unread batches returned
        }
        Assert.Equal(3, n);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => loader.Prefetch(0, 0, cts.Token).First());
    }

    [Fact]
    public void SequentialIsInOrderUnaugmentedAndKeepsTheLastBatch()
    {
        var ds = DataFiles.Synthetic([5, 5]);
        var loader = new BatchLoader(ds, new BatchLoaderOptions(BatchSize: 3, DropLast: true, Seed: 1, Augmentation: new Augmentation(1, true)));
        var batches = Take(loader.Sequential());
        Assert.Equal(4, batches.Count);
        Assert.Equal(Enumerable.Range(0, 10), batches.SelectMany(b => b.Indices));
        Assert.Equal(ds.Pixels.ToArray().Select(p => p / 255f), batches.SelectMany(b => b.Images));
    }
}
