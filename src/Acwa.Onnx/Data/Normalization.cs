namespace Acwa.Onnx.Data;

/// <summary>
/// Per-channel normalisation of byte pixels: <c>out = (x / 255 - Mean[c]) / Std[c]</c>.
/// </summary>
public sealed class Normalization
{
    /// <summary>Creates a normalisation; one mean and one standard deviation per channel.</summary>
    /// <exception cref="ArgumentException">Lengths differ, are zero, or a std is not a positive finite number.</exception>
    public Normalization(IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Count == 0 || mean.Count != std.Count)
            throw new ArgumentException($"normalisation needs one mean and one std per channel, got {mean.Count} and {std.Count}");
        for (int c = 0; c < std.Count; c++)
            if (!(std[c] > 0) || !float.IsFinite(std[c]) || !float.IsFinite(mean[c]))
                throw new ArgumentException($"channel {c}: mean {mean[c]} / std {std[c]} must be finite and std positive");
        Mean = mean.ToArray();
        Std = std.ToArray();
    }

    /// <summary>Per-channel mean, in units of x/255.</summary>
    public IReadOnlyList<float> Mean { get; }

    /// <summary>Per-channel standard deviation, in units of x/255.</summary>
    public IReadOnlyList<float> Std { get; }

    /// <summary>Number of channels.</summary>
    public int Channels => Mean.Count;

    /// <summary>Just <c>x / 255</c> for <paramref name="channels"/> channels (mean 0, std 1).</summary>
    public static Normalization Scale01(int channels) => new(new float[channels], Enumerable.Repeat(1f, channels).ToArray());

    /// <summary>Fashion-MNIST training-set statistics: mean 0.2860, std 0.3530.</summary>
    public static Normalization FashionMnist { get; } = new([0.2860f], [0.3530f]);

    /// <summary>CIFAR-10 training-set statistics (R, G, B): mean 0.4914, 0.4822, 0.4465; std 0.2470, 0.2435, 0.2616.</summary>
    public static Normalization Cifar10 { get; } = new([0.4914f, 0.4822f, 0.4465f], [0.2470f, 0.2435f, 0.2616f]);

    /// <summary>
    /// Statistics of <paramref name="data"/> itself: per channel, the mean and population standard deviation of x/255
    /// over all images and pixels. A constant channel gets std 1 instead of 0. An empty dataset gives <see cref="Scale01"/>.
    /// </summary>
    public static Normalization Compute(ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        int ch = data.Channels, plane = data.Height * data.Width;
        if (data.Count == 0) return Scale01(ch);
        var mean = new float[ch];
        var std = new float[ch];
        var pixels = data.Pixels;
        for (int c = 0; c < ch; c++)
        {
            long sum = 0, sumSq = 0;
            for (int i = 0; i < data.Count; i++)
            {
                var p = pixels.Slice((i * ch + c) * plane, plane);
                foreach (var b in p) { sum += b; sumSq += b * b; }
            }
            double n = (double)data.Count * plane;
            double m = sum / n, v = Math.Max(0, sumSq / n - m * m);
            mean[c] = (float)(m / 255);
            std[c] = v > 0 ? (float)(Math.Sqrt(v) / 255) : 1f;
        }
        return new Normalization(mean, std);
    }

    /// <summary>
    /// The 256-entry lookup table of channel <paramref name="channel"/>: <c>table[x] = (x / 255f - Mean) / Std</c>,
    /// computed in float exactly as written.
    /// </summary>
    public float[] LookupTable(int channel)
    {
        var t = new float[256];
        float m = Mean[channel], s = Std[channel];
        for (int x = 0; x < 256; x++) t[x] = (x / 255f - m) / s;
        return t;
    }

    /// <inheritdoc/>
    public override string ToString() => $"(x/255 - [{string.Join(", ", Mean)}]) / [{string.Join(", ", Std)}]";
}
