namespace Acwa.Onnx.Tests.Metrics;

/// <summary>Shared inputs and brute-force references for the metrics tests.</summary>
internal static class MetricsTestData
{
    public static readonly int[] ClassCounts = [1, 2, 3, 7, 10, 16, 100, 1000];
    public const int MaxLength = 300;

    /// <summary>Logits drawn from a small integer set (many ties), with some +inf/-inf.</summary>
    public static float[] Logits(int rows, int classes, int seed)
    {
        var rng = new Random(seed);
        var x = new float[rows * classes];
        for (int i = 0; i < x.Length; i++)
        {
            int k = rng.Next(100);
            x[i] = k switch
            {
                0 => float.PositiveInfinity,
                1 or 2 => float.NegativeInfinity,
                < 50 => rng.Next(-2, 3),          // ties are frequent
                _ => (float)(rng.NextDouble() * 4 - 2),
            };
        }
        return x;
    }

    public static int[] Labels(int n, int classes, int seed)
    {
        var rng = new Random(seed);
        var y = new int[n];
        for (int i = 0; i < n; i++) y[i] = rng.Next(classes);
        return y;
    }

    /// <summary>numpy.argmax semantics for NaN-free rows: first index of the maximum.</summary>
    public static int BruteArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int j = 1; j < row.Length; j++)
            if (row[j] > row[best]) best = j;
        return best;
    }

    public static long[] BruteCounts(ReadOnlySpan<int> labels, ReadOnlySpan<int> preds, int classes)
    {
        var m = new long[classes * classes];
        for (int i = 0; i < labels.Length; i++) m[labels[i] * classes + preds[i]]++;
        return m;
    }
}
