namespace Acwa.Onnx.Data;

/// <summary>A loaded dataset: training and test sets plus the preprocessing that suits it.</summary>
/// <param name="Train">Training images (before any imbalance protocol or validation split).</param>
/// <param name="Test">Test images (the official test set, or a stratified split carved from the training data).</param>
/// <param name="Normalization">Default normalisation for this data (see <see cref="DatasetSpec.Load"/>).</param>
/// <param name="Augmentation">Default training augmentation for this data.</param>
public sealed record DatasetPair(ImageDataset Train, ImageDataset Test, Normalization Normalization, Augmentation Augmentation)
{
    /// <summary>Where the images came from: the named or installed files, or the embedded Fashion-MNIST subset.</summary>
    public DatasetOrigin Origin { get; init; } = DatasetOrigin.Files;

    /// <summary>
    /// A one-line notice for the user about what was loaded instead of what was asked for (e.g.
    /// <see cref="FashionMnist.EmbeddedNotice"/>), or null when there is nothing to say.
    /// </summary>
    public string? Notice { get; init; }
}
