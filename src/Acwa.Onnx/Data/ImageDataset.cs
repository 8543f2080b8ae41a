namespace Acwa.Onnx.Data;

/// <summary>
/// An in-memory image classification dataset: <see cref="Count"/> images stored as bytes in channel-first layout
/// <c>[N, C, H, W]</c>, one integer label per image in <c>[0, ClassCount)</c>, the class names, and a description of
/// where the data came from. Instances are immutable by convention: <see cref="Subset"/> copies.
/// </summary>
public sealed class ImageDataset : ILabeledDataset<ImageDataset>
{
    private readonly byte[] _pixels;
    private readonly int[] _labels;
    private readonly string[] _classNames;

    /// <summary>Creates a dataset, validating shapes and labels.</summary>
    /// <param name="pixels">Row-major <c>[N, C, H, W]</c> bytes; length must be <c>N*C*H*W</c>. Not copied.</param>
    /// <param name="labels">One label per image, each in <c>[0, classNames.Count)</c>. Not copied.</param>
    /// <param name="channels">C (1 for grey, 3 for RGB).</param>
    /// <param name="height">H.</param>
    /// <param name="width">W.</param>
    /// <param name="classNames">Names of the classes; their count is the class count.</param>
    /// <param name="source">Human-readable description of the origin (files, protocol applied).</param>
    /// <exception cref="ArgumentException">Sizes disagree or a label is out of range (the message names the index and value).</exception>
    public ImageDataset(byte[] pixels, int[] labels, int channels, int height, int width, IReadOnlyList<string> classNames, string source)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"image shape [{channels}, {height}, {width}] must be positive");
        if (classNames.Count == 0) throw new ArgumentException("a dataset needs at least one class name");
        long imageSize = (long)channels * height * width;
        if (pixels.LongLength != imageSize * labels.Length)
            throw new ArgumentException($"{labels.Length} labels need {imageSize * labels.Length} pixel bytes of shape [{channels}, {height}, {width}], got {pixels.LongLength}");
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classNames.Count)
                throw new ArgumentException($"label {labels[i]} of image {i} is outside [0, {classNames.Count}) ({source})");
        _pixels = pixels;
        _labels = labels;
        _classNames = classNames.ToArray();
        Channels = channels;
        Height = height;
        Width = width;
        Source = source ?? "";
    }

    /// <summary>Number of images N.</summary>
    public int Count => _labels.Length;

    /// <summary>Channels C per image.</summary>
    public int Channels { get; }

    /// <summary>Image height H.</summary>
    public int Height { get; }

    /// <summary>Image width W.</summary>
    public int Width { get; }

    /// <summary>Bytes per image, <c>C*H*W</c>.</summary>
    public int ImageSize => Channels * Height * Width;

    /// <summary>Number of classes (the length of <see cref="ClassNames"/>); classes without images count too.</summary>
    public int ClassCount => _classNames.Length;

    /// <summary>Class names, index = label.</summary>
    public IReadOnlyList<string> ClassNames => _classNames;

    /// <summary>Where the data came from (file names, protocol applied); informative only.</summary>
    public string Source { get; }

    /// <summary>All pixels, <c>[N, C, H, W]</c> row-major. Do not modify.</summary>
    public ReadOnlySpan<byte> Pixels => _pixels;

    /// <summary>All labels, in image order.</summary>
    public ReadOnlySpan<int> Labels => _labels;

    /// <summary>The <c>[C, H, W]</c> bytes of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> Image(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"dataset has {Count} images");
        return _pixels.AsSpan(index * ImageSize, ImageSize);
    }

    /// <summary>Label of image <paramref name="index"/>.</summary>
    public int Label(int index) => _labels[index];

    /// <summary>Number of images per class (length <see cref="ClassCount"/>; zero for absent classes).</summary>
    public int[] ClassCounts() => LabeledDatasets.Counts(_labels, ClassCount);

    /// <summary>
    /// A new dataset holding copies of the images at <paramref name="indices"/>, in that order (duplicates allowed).
    /// Class names and shape are kept; <see cref="Source"/> becomes <paramref name="source"/> when given, otherwise
    /// the old source with "subset of N" appended.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside <c>[0, Count)</c>.</exception>
    public ImageDataset Subset(ReadOnlySpan<int> indices, string? source = null)
    {
        int size = ImageSize;
        var pixels = new byte[(long)indices.Length * size];
        var labels = new int[indices.Length];
        for (int k = 0; k < indices.Length; k++)
        {
            int i = indices[k];
            if ((uint)i >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(indices), i, $"subset index #{k} is outside [0, {Count})");
            _pixels.AsSpan(i * size, size).CopyTo(pixels.AsSpan(k * size, size));
            labels[k] = _labels[i];
        }
        return new ImageDataset(pixels, labels, Channels, Height, Width, _classNames, source ?? $"{Source}; subset of {indices.Length}");
    }

    /// <summary>
    /// The images as one grey channel: luma Y = (299 R + 587 G + 114 B) / 1000 rounded to the nearest byte (ITU-R BT.601,
    /// as PIL's <c>convert("L")</c>), for models that take <c>[N, 1, H, W]</c>. A dataset that is grey already is returned
    /// as it is.
    /// </summary>
    /// <exception cref="InvalidOperationException">The images have neither 1 nor 3 channels.</exception>
    public ImageDataset ToGrey()
    {
        if (Channels == 1) return this;
        if (Channels != 3) throw new InvalidOperationException($"{Source}: only RGB images (3 channels) convert to grey; these have {Channels}");
        int plane = Height * Width;
        var grey = new byte[(long)Count * plane];
        for (int i = 0; i < Count; i++)
        {
            var rgb = _pixels.AsSpan(i * 3 * plane, 3 * plane);
            var y = grey.AsSpan(i * plane, plane);
            for (int p = 0; p < plane; p++)
                y[p] = (byte)((299 * rgb[p] + 587 * rgb[plane + p] + 114 * rgb[2 * plane + p] + 500) / 1000);
        }
        return new ImageDataset(grey, _labels, 1, Height, Width, _classNames, $"{Source}; grey");
    }

    /// <summary>Indices of the images of each class, ascending: <c>result[c]</c> lists the images labelled c.</summary>
    public int[][] IndicesByClass() => LabeledDatasets.ByClass(_labels, ClassCount);

    /// <inheritdoc/>
    public override string ToString() => $"{Count} images [{Channels}x{Height}x{Width}], {ClassCount} classes ({Source})";
}
