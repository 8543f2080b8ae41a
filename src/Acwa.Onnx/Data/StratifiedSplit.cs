namespace Acwa.Onnx.Data;

/// <summary>
/// Stratified hold-out splits (validation from training data, or a test split when a source has none).
/// Per class with n images, the held-out part gets <c>round(n * fraction)</c> images (halves away from zero), then
/// clamped so that a class with at least 2 images gives at least 1 to each side; a class with fewer than 2 images
/// stays entirely in the kept part. With fraction 0 nothing is held out. Which images go out is a uniform random choice per
/// class from a generator derived from (seed, class); both parts keep the original image order.
/// </summary>
public static class StratifiedSplit
{
    /// <summary>Number of held-out images per class for the given per-class counts.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fraction"/> is outside <c>[0, 1)</c>.</exception>
    public static int[] HeldOutCounts(ReadOnlySpan<int> classCounts, double fraction)
    {
        if (!(fraction >= 0 && fraction < 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "split fraction must be in [0, 1)");
        var result = new int[classCounts.Length];
        if (fraction == 0) return result;
        for (int c = 0; c < result.Length; c++)
        {
            int n = classCounts[c];
            result[c] = n < 2 ? 0 : Math.Clamp((int)Math.Round(n * fraction, MidpointRounding.AwayFromZero), 1, n - 1);
        }
        return result;
    }

    /// <summary>
    /// Splits <paramref name="data"/> into (kept, held out). The indices returned are those of <paramref name="data"/>,
    /// ascending, disjoint, and together cover every image.
    /// </summary>
    public static (int[] Kept, int[] HeldOut) SplitIndices(ILabeledDataset data, double fraction, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        var byClass = data.IndicesByClass();
        var outCounts = HeldOutCounts(data.ClassCounts(), fraction);
        var kept = new List<int>(data.Count);
        var held = new List<int>();
        for (int c = 0; c < byClass.Length; c++)
        {
            var idx = (int[])byClass[c].Clone();
            Xoshiro256StarStar.Derive(seed, 0x5B117, (ulong)c).Shuffle(idx.AsSpan());
            held.AddRange(idx.AsSpan(0, outCounts[c]));
            kept.AddRange(idx.AsSpan(outCounts[c]));
        }
        kept.Sort();
        held.Sort();
        return (kept.ToArray(), held.ToArray());
    }

    /// <summary>Splits <paramref name="data"/> into (kept, held out) datasets; see the type description for the counts.</summary>
    /// <param name="data">Dataset to split.</param>
    /// <param name="fraction">Held-out fraction in <c>[0, 1)</c>.</param>
    /// <param name="seed">Seed of the random choice.</param>
    /// <param name="heldOutName">Word used in the held-out part's <see cref="ILabeledDataset.Source"/> (e.g. "validation").</param>
    public static (T Kept, T HeldOut) Split<T>(T data, double fraction, ulong seed, string heldOutName = "validation") where T : ILabeledDataset<T>
    {
        var (k, h) = SplitIndices(data, fraction, seed);
        string how = $"stratified {heldOutName} split {fraction:0.###} (seed {seed})";
        return (data.Subset(k, $"{data.Source}; {how}: kept part"), data.Subset(h, $"{data.Source}; {how}: {heldOutName} part"));
    }
}
