using Acwa.Onnx.Data;
using Acwa.Onnx.Tests.Training.Runtime;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Runtime;
using Acwa.Onnx.Weighting;

namespace Acwa.Onnx.Tests.Data;

/// <summary>
/// <see cref="SampleDataset"/>: fixed-size float or token-id samples through the same data protocols as images (imbalance,
/// stratified split), the batch loader (samples as they are) and the trainer.
/// </summary>
public class SampleDatasetTests
{
    /// <summary>Three classes of 5 float features: class k has feature k near 2, the rest noise in [-1, 1].</summary>
    private static SampleDataset Features(int seed, params int[] perClass)
    {
        var rng = new Random(seed);
        int n = perClass.Sum(), i = 0;
        var x = new float[n * 5];
        var y = new int[n];
        for (int k = 0; k < perClass.Length; k++)
            for (int j = 0; j < perClass[k]; j++, i++)
            {
                y[i] = k;
                for (int f = 0; f < 5; f++) x[i * 5 + f] = f == k ? 2f + (float)rng.NextDouble() : (float)(2 * rng.NextDouble() - 1);
            }
        return new SampleDataset(x, y, [5], ["a", "b", "c"], $"features-{seed}");
    }

    [Fact]
    public void ConstructionChecksSizesLabelsAndValuesNamingTheSample()
    {
        var e = Assert.Throws<ArgumentException>(() => new SampleDataset(new float[11], [0, 1], [5], ["a", "b"], "f.npy"));
        Assert.Contains("2 labels need 10 values of shape [5] each, got 11 (f.npy)", e.Message);
        e = Assert.Throws<ArgumentException>(() => new SampleDataset(new float[10], [0, 2], [5], ["a", "b"], "f.npy"));
        Assert.Contains("label 2 of sample 1 is outside [0, 2)", e.Message);
        var bad = new float[10];
        bad[7] = float.NaN;
        e = Assert.Throws<ArgumentException>(() => new SampleDataset(bad, [0, 1], [5], ["a", "b"], "f.npy"));
        Assert.Contains("at sample 1, offset 2 is not finite", e.Message);
        e = Assert.Throws<ArgumentException>(() => new SampleDataset(new long[4], [0, 1], [2, 0], ["a", "b"], "ids.npy"));
        Assert.Contains("each positive", e.Message);
        var ids = new SampleDataset(new long[] { 1, 2, 3, 4 }, [0, 1], [2], ["a", "b"], "ids.npy");
        Assert.True(ids.IsTokenIds);
        Assert.Equal(new long[] { 3, 4 }, ids.Ids(1).ToArray());
        Assert.Throws<InvalidOperationException>(() => ids.Floats(0).ToArray());
    }

    [Fact]
    public void ImbalanceAndStratifiedSplitWorkOnSamplesAsOnImagesAndSubsetsCopyTheRightRows()
    {
        var data = Features(1, 100, 100, 100);
        var step = ImbalanceProtocol.Parse("step:0.1:1,2").Apply(data, 7);
        Assert.Equal([100, 10, 10], step.ClassCounts());
        var (kept, held) = StratifiedSplit.Split(step, 0.2, 7);
        Assert.Equal([80, 8, 8], kept.ClassCounts());
        Assert.Equal([20, 2, 2], held.ClassCounts());
        // every held-out row is a row of the original data with its own label
        for (int i = 0; i < held.Count; i++)
        {
            int k = held.Label(i);
            Assert.True(held.Floats(i)[k] >= 2f, $"held-out sample {i} of class {k} lost its marker feature");
        }
        var sub = data.Subset([299, 0], "two");
        Assert.Equal(data.Floats(299).ToArray(), sub.Floats(0).ToArray());
        Assert.Equal([2, 0], new[] { sub.Label(0), sub.Label(1) });
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Subset([300]));
    }

    [Fact]
    public void TheLoaderFeedsSamplesAsTheyAreAndRefusesImageOptions()
    {
        var data = Features(2, 3, 2, 2);
        var loader = new BatchLoader(data, new BatchLoaderOptions(BatchSize: 4, Shuffle: true, DropLast: false, Seed: 1));
        var seen = new List<int>();
        foreach (var b in loader.Epoch(0))
            using (b)
            {
                Assert.Equal(new long[] { b.Count, 5 }, b.ImageShape);
                Assert.Empty(b.Ids);
                for (int k = 0; k < b.Count; k++)
                {
                    Assert.Equal(data.Floats(b.Indices[k]).ToArray(), b.Images.AsSpan(k * 5, 5).ToArray());
                    Assert.Equal(data.Label(b.Indices[k]), b.Labels[k]);
                    seen.Add(b.Indices[k]);
                }
            }
        Assert.Equal(Enumerable.Range(0, 7), seen.Order());
        var e = Assert.Throws<ArgumentException>(() => new BatchLoader(data, new BatchLoaderOptions(Normalization: Normalization.Scale01(1))));
        Assert.Contains("fed as it is", e.Message);
    }

    [Fact]
    public void TheTrainerLearnsFloatFeaturesWithAnAdaptivePolicy()
    {
        var dir = TestArtifacts.Create(5, 3);
        using var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var train = Features(3, 120, 30, 10);
        var policy = PolicyFactory.Create("acwa-mult", [120, 30, 10], 6);
        var trainer = new Trainer(runner, train, Features(4, 20, 20, 20), policy,
            new TrainerOptions { Epochs = 6, BatchSize = 16, Seed = 2, Schedule = new ConstantSchedule(0.1) }, Features(5, 30, 30, 30));
        var result = trainer.Run();
        Assert.True(result.Epochs[^1].TrainLoss < result.Epochs[0].TrainLoss, $"loss {result.Epochs[0].TrainLoss:F3} -> {result.Epochs[^1].TrainLoss:F3}");
        Assert.True(result.Test!.MacroF1 >= 0.9, $"test macro-F1 {result.Test.MacroF1:F3}");
        Assert.Equal(result.Test.MacroF1, trainer.Evaluate(Features(5, 30, 30, 30)).Report.MacroF1);

        // token ids for a float model, a normalisation, or another sample size: refused with the reason
        var ids = new SampleDataset(new long[3 * 5], [0, 1, 2], [5], ["a", "b", "c"], "ids");
        var e = Assert.Throws<ArgumentException>(() => new Trainer(runner, ids, ids, policy, new TrainerOptions()));
        Assert.Contains("holds token ids", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Trainer(runner, train, train, policy, new TrainerOptions { Normalization = Normalization.Scale01(1) }));
        Assert.Contains("fed as it is", e.Message);
        var wide = new SampleDataset(new float[3 * 6], [0, 1, 2], [6], ["a", "b", "c"], "six");
        e = Assert.Throws<ArgumentException>(() => new Trainer(runner, wide, wide, policy, new TrainerOptions()));
        Assert.Contains("6 values per sample, the model takes 5", e.Message);
    }
}
