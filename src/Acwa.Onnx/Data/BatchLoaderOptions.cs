namespace Acwa.Onnx.Data;

/// <summary>Settings of a <see cref="BatchLoader"/>.</summary>
/// <param name="BatchSize">Images per batch (positive).</param>
/// <param name="Shuffle">Shuffle the images each epoch (a permutation derived from (Seed, epoch)); false keeps dataset order.</param>
/// <param name="DropLast">Drop the last batch of an epoch when it has fewer than <paramref name="BatchSize"/> images; default keeps it.</param>
/// <param name="Seed">Seed of shuffling and augmentation.</param>
/// <param name="Normalization">Per-channel normalisation; null means x/255 (<see cref="Normalization.Scale01"/>).</param>
/// <param name="Augmentation">Training augmentation; null means none.</param>
/// <param name="PrefetchDepth">Batches the background producer of <see cref="BatchLoader.Prefetch"/> may run ahead (at least 1).</param>
public sealed record BatchLoaderOptions(
    int BatchSize = 128,
    bool Shuffle = true,
    bool DropLast = false,
    ulong Seed = 0,
    Normalization? Normalization = null,
    Augmentation? Augmentation = null,
    int PrefetchDepth = 2);
