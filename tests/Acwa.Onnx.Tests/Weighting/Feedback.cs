using Acwa.Onnx.Weighting;

namespace Acwa.Onnx.Tests.Weighting;

/// <summary>Builds <see cref="EpochFeedback"/> for tests: only F1 and support matter to the policies.</summary>
internal static class Feedback
{
    public static EpochFeedback Of(int epoch, double[] f1, long[]? support = null, int totalEpochs = 100, long[]? trainCounts = null)
    {
        int c = f1.Length;
        support ??= Enumerable.Repeat(100L, c).ToArray();
        trainCounts ??= Enumerable.Repeat(1000L, c).ToArray();
        return new EpochFeedback(epoch, totalEpochs, f1, (double[])f1.Clone(), (double[])f1.Clone(), support, trainCounts);
    }

    /// <summary>Feeds <paramref name="sequence"/> (one F1 array per epoch, from epoch 0) and returns the weights after each.</summary>
    public static List<double[]> Run(IClassWeightPolicy policy, IEnumerable<double[]> sequence, long[]? support = null, int totalEpochs = 100)
    {
        var result = new List<double[]>();
        int epoch = policy.LastEpoch + 1;
        foreach (var f1 in sequence)
            result.Add(policy.Update(Of(epoch++, f1, support, totalEpochs)));
        return result;
    }

    public static long Bits(double d) => BitConverter.DoubleToInt64Bits(d);

    public static void AssertBitEqual(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Bits(expected[i]) == Bits(actual[i]), $"[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
    }
}
