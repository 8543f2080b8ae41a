namespace Acwa.Onnx.Tests.Training.Runtime;

/// <summary>
/// A small learnable task on token ids for the <c>tiny_text</c> fixture (6 ids, 3 classes): the sequence of class c holds
/// marker token 1 + c at a random position among filler tokens 4..29, lengths 2..6, padding id 0 after the end.
/// </summary>
internal static class MarkerTokens
{
    public const int Length = 6;

    /// <summary>Writes one sequence of class <paramref name="c"/> into <paramref name="row"/> (<see cref="Length"/> ids).</summary>
    public static void Fill(Random rng, int c, Span<long> row)
    {
        row.Clear();
        int len = rng.Next(2, Length + 1);
        for (int t = 0; t < len; t++) row[t] = rng.Next(4, 30);
        row[rng.Next(len)] = 1 + c;
    }

    /// <summary><paramref name="perClass"/>[c] sequences of each class c, in class order: ids [N, 6] and labels [N].</summary>
    public static (long[] Ids, int[] Labels) PerClass(int seed, params int[] perClass)
    {
        var rng = new Random(seed);
        int n = perClass.Sum(), i = 0;
        var ids = new long[n * Length];
        var labels = new int[n];
        for (int c = 0; c < perClass.Length; c++)
            for (int j = 0; j < perClass[c]; j++, i++)
            {
                Fill(rng, c, ids.AsSpan(i * Length, Length));
                labels[i] = c;
            }
        return (ids, labels);
    }
}
