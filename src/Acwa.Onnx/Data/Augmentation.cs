namespace Acwa.Onnx.Data;

/// <summary>
/// Training-time augmentation, applied to the byte image before normalisation:
/// <list type="number">
/// <item>random crop with padding <see cref="Pad"/> p: the image is conceptually padded with p zero pixels (raw value 0,
/// as torchvision's <c>RandomCrop(padding=p)</c> fills) on every side, and an HxW window at offset (oy, ox), each uniform in
/// <c>[0, 2p]</c>, is taken, so <c>out(y, x) = in(y + oy - p, x + ox - p)</c>, or 0 outside the image;</item>
/// <item>when <see cref="HorizontalFlip"/>, with probability 1/2 the crop is mirrored: <c>out(y, x) = crop(y, W-1-x)</c>.</item>
/// </list>
/// Per image the draws are, in order: oy, ox (only when p &gt; 0), then the flip bit (only when flipping is on).
/// </summary>
/// <param name="Pad">Crop padding p in pixels; 0 disables the crop.</param>
/// <param name="HorizontalFlip">Whether to mirror half of the images left-right.</param>
public sealed record Augmentation(int Pad, bool HorizontalFlip)
{
    /// <summary>No augmentation (the default for Fashion-MNIST and for evaluation).</summary>
    public static Augmentation None { get; } = new(0, false);

    /// <summary>The standard CIFAR recipe: pad-4 random crop and horizontal flip.</summary>
    public static Augmentation PadCropFlip { get; } = new(4, true);

    /// <summary>True when this augmentation changes nothing.</summary>
    public bool IsIdentity => Pad == 0 && !HorizontalFlip;

    /// <summary>Draws the parameters of one image from <paramref name="rng"/> (see the type description for the order).</summary>
    internal (int OffsetY, int OffsetX, bool Flip) Draw(Xoshiro256StarStar rng)
    {
        int oy = Pad, ox = Pad;
        if (Pad > 0) { oy = rng.NextInt(2 * Pad + 1); ox = rng.NextInt(2 * Pad + 1); }
        bool flip = HorizontalFlip && (rng.NextUInt64() >> 63) != 0;
        return (oy, ox, flip);
    }
}
