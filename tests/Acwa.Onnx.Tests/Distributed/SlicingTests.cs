using Acwa.Onnx.Data;

namespace Acwa.Onnx.Tests.Distributed;

/// <summary>
/// The loader's part of a data-parallel run (docs/distributed.md): the slices of N parts put together are the global batch,
/// rows, labels and augmented pixels included; sizes differ by at most one row with rank 0 never empty; the sequential
/// shards cover the split in order.
/// </summary>
public class SlicingTests
{
    private static ImageDataset Data(int n)
    {
        var rng = new Random(3);
        var pixels = new byte[n * 3 * 8 * 8];
        rng.NextBytes(pixels);
        var labels = Enumerable.Range(0, n).Select(i => i % 4).ToArray();
        return new ImageDataset(pixels, labels, 3, 8, 8, ["a", "b", "c", "d"], "test");
    }

    [Theory]
    [InlineData(2, 37, 8)]
    [InlineData(3, 37, 8)]
    [InlineData(4, 37, 8)]
    [InlineData(3, 29, 10)] // a last batch of 9 rows
    [InlineData(4, 30, 7)]  // a last batch of 2 rows: ranks 2 and 3 get empty slices
    public void The_parts_of_every_batch_put_together_are_the_one_process_batch(int parts, int n, int batch)
    {
        var data = Data(n);
        var options = new BatchLoaderOptions(batch, Shuffle: true, Seed: 11, Augmentation: Augmentation.PadCropFlip);
        var whole = new BatchLoader(data, options);
        var sliced = Enumerable.Range(0, parts).Select(p => new BatchLoader(data, options).Sliced(p, parts)).ToArray();
        for (int e = 0; e < 2; e++)
        {
            var wholeBatches = whole.Epoch(e).ToList();
            var slices = sliced.Select(l => l.Epoch(e).ToList()).ToArray();
            for (int b = 0; b < wholeBatches.Count; b++)
            {
                var w = wholeBatches[b];
                var counts = slices.Select(s => s[b].Count).ToArray();
                Assert.True(counts.Max() - counts.Min() <= 1, $"slice sizes [{string.Join(", ", counts)}]");
                Assert.True(counts[0] > 0);
                Assert.Equal(counts.OrderByDescending(c => c), counts); // the larger slices first
                Assert.Equal(w.Indices, slices.SelectMany(s => s[b].Indices).ToArray());
                Assert.Equal(w.Labels, slices.SelectMany(s => s[b].Labels).ToArray());
                Assert.Equal(w.Images, slices.SelectMany(s => s[b].Images).ToArray()); // the same augmentation draws
                Assert.All(slices, s => Assert.Equal(b, s[b].Index));
            }
        }
    }

    [Theory]
    [InlineData(2, 37, 8)]
    [InlineData(3, 5, 8)]
    [InlineData(4, 3, 2)] // more parts than rows: the last part is empty
    public void Sequential_shards_cover_the_split_once_in_order(int parts, int n, int batch)
    {
        var data = Data(n);
        var options = new BatchLoaderOptions(batch, Shuffle: false);
        var all = Enumerable.Range(0, parts).SelectMany(p => new BatchLoader(data, options).Sliced(p, parts).Sequential().SelectMany(b => b.Indices)).ToArray();
        Assert.Equal(Enumerable.Range(0, n), all);
    }
}
