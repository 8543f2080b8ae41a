using System.Globalization;
using Acwa.Onnx.IO;

namespace Acwa.Onnx.Data;

/// <summary>
/// An in-memory classification dataset of fixed-size samples that are not images: float features, sequences or signals
/// (fed to the model as they are, no normalisation or augmentation), or int64 token ids for a model with an int64 input.
/// Row-major <c>[N, ...SampleShape]</c>, one label per sample in <c>[0, ClassCount)</c>. Immutable by convention:
/// <see cref="Subset"/> copies.
/// </summary>
public sealed class SampleDataset : ILabeledDataset<SampleDataset>
{
    private readonly float[]? _floats;
    private readonly long[]? _ids;
    private readonly int[] _labels;
    private readonly string[] _classNames;
    private readonly int[] _shape;

    /// <summary>Float samples (features, sequences, signals).</summary>
    /// <param name="samples">Row-major <c>[N, ...sampleShape]</c>; not copied.</param>
    /// <param name="labels">One label per sample, each in <c>[0, classNames.Count)</c>; not copied.</param>
    /// <param name="sampleShape">Shape of one sample (the dims after N), each positive.</param>
    /// <param name="classNames">Names of the classes; their count is the class count.</param>
    /// <param name="source">Human-readable description of the origin.</param>
    /// <exception cref="ArgumentException">Sizes disagree, a dim is not positive, a value is NaN or infinite, or a label is out of range (the message names the index and value).</exception>
    public SampleDataset(float[] samples, int[] labels, IReadOnlyList<int> sampleShape, IReadOnlyList<string> classNames, string source)
        : this(samples, null, labels, sampleShape, classNames, source) { }

    /// <summary>Token-id samples for a model whose input is int64 (an embedding lookup).</summary>
    /// <inheritdoc cref="SampleDataset(float[], int[], IReadOnlyList{int}, IReadOnlyList{string}, string)"/>
    public SampleDataset(long[] ids, int[] labels, IReadOnlyList<int> sampleShape, IReadOnlyList<string> classNames, string source)
        : this(null, ids, labels, sampleShape, classNames, source) { }

    private SampleDataset(float[]? floats, long[]? ids, int[] labels, IReadOnlyList<int> sampleShape, IReadOnlyList<string> classNames, string source)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(sampleShape);
        ArgumentNullException.ThrowIfNull(classNames);
        source ??= "";
        if (sampleShape.Count == 0 || sampleShape.Any(d => d <= 0))
            throw new ArgumentException($"sample shape [{string.Join(", ", sampleShape)}] must have at least one dim, each positive ({source})");
        if (classNames.Count == 0) throw new ArgumentException($"a dataset needs at least one class name ({source})");
        long size = sampleShape.Aggregate(1L, (a, d) => a * d);
        if (size > int.MaxValue) throw new ArgumentException($"a sample of shape [{string.Join(", ", sampleShape)}] has more than {int.MaxValue} values ({source})");
        long length = floats?.LongLength ?? ids!.LongLength;
        if (length != size * labels.Length)
            throw new ArgumentException($"{labels.Length} labels need {size * labels.Length} values of shape [{string.Join(", ", sampleShape)}] each, got {length} ({source})");
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classNames.Count)
                throw new ArgumentException($"label {labels[i]} of sample {i} is outside [0, {classNames.Count}) ({source})");
        if (floats is not null)
            for (long k = 0; k < floats.LongLength; k++)
                if (!float.IsFinite(floats[k]))
                    throw new ArgumentException($"value {floats[k]} at sample {k / size}, offset {k % size} is not finite ({source})");
        _floats = floats; _ids = ids; _labels = labels;
        _classNames = classNames.ToArray();
        _shape = sampleShape.ToArray();
        SampleSize = (int)size;
        Source = source;
    }

    /// <inheritdoc/>
    public int Count => _labels.Length;

    /// <summary>Shape of one sample, the dims after N.</summary>
    public IReadOnlyList<int> SampleShape => _shape;

    /// <summary>Values per sample (the product of <see cref="SampleShape"/>).</summary>
    public int SampleSize { get; }

    /// <summary>Whether the samples are int64 token ids (else floats).</summary>
    public bool IsTokenIds => _ids is not null;

    /// <inheritdoc/>
    public int ClassCount => _classNames.Length;

    /// <inheritdoc/>
    public IReadOnlyList<string> ClassNames => _classNames;

    /// <inheritdoc/>
    public string Source { get; }

    /// <summary>All labels, in sample order.</summary>
    public ReadOnlySpan<int> Labels => _labels;

    /// <summary>All labels as memory (for APIs that batch asynchronously, e.g. the evaluator).</summary>
    public ReadOnlyMemory<int> AllLabels => _labels;

    /// <summary>All float values, <c>[N, ...SampleShape]</c> row-major (empty for token ids).</summary>
    public ReadOnlyMemory<float> AllFloats => _floats ?? ReadOnlyMemory<float>.Empty;

    /// <summary>All token ids, <c>[N, ...SampleShape]</c> row-major (empty for float samples).</summary>
    public ReadOnlyMemory<long> AllIds => _ids ?? ReadOnlyMemory<long>.Empty;

    /// <inheritdoc/>
    public int Label(int index) => _labels[index];

    /// <summary>The float values of sample <paramref name="index"/>.</summary>
    /// <exception cref="InvalidOperationException">The samples are token ids.</exception>
    public ReadOnlySpan<float> Floats(int index) => _floats is null
        ? throw new InvalidOperationException($"{Source}: the samples are token ids, not floats")
        : _floats.AsSpan(Offset(index), SampleSize);

    /// <summary>The token ids of sample <paramref name="index"/>.</summary>
    /// <exception cref="InvalidOperationException">The samples are floats.</exception>
    public ReadOnlySpan<long> Ids(int index) => _ids is null
        ? throw new InvalidOperationException($"{Source}: the samples are floats, not token ids")
        : _ids.AsSpan(Offset(index), SampleSize);

    private int Offset(int index) =>
        (uint)index < (uint)Count ? index * SampleSize : throw new ArgumentOutOfRangeException(nameof(index), index, $"dataset has {Count} samples");

    /// <inheritdoc/>
    public int[] ClassCounts() => LabeledDatasets.Counts(_labels, ClassCount);

    /// <inheritdoc/>
    public int[][] IndicesByClass() => LabeledDatasets.ByClass(_labels, ClassCount);

    /// <inheritdoc/>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside <c>[0, Count)</c>.</exception>
    public SampleDataset Subset(ReadOnlySpan<int> indices, string? source = null)
    {
        int size = SampleSize;
        var labels = new int[indices.Length];
        var floats = _floats is null ? null : new float[(long)indices.Length * size];
        var ids = _ids is null ? null : new long[(long)indices.Length * size];
        for (int k = 0; k < indices.Length; k++)
        {
            int i = indices[k];
            if ((uint)i >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(indices), i, $"subset index #{k} is outside [0, {Count})");
            labels[k] = _labels[i];
            if (floats is not null) _floats.AsSpan(i * size, size).CopyTo(floats.AsSpan(k * size, size));
            else _ids.AsSpan(i * size, size).CopyTo(ids.AsSpan(k * size, size));
        }
        return new SampleDataset(floats, ids, labels, _shape, _classNames, source ?? $"{Source}; subset of {indices.Length}");
    }

    /// <summary>
    /// Reads samples and labels from .npy files: <paramref name="samplesPath"/> <c>[N, ...]</c> float32/float64 (features,
    /// sequences, signals; fed as they are) or, with <paramref name="tokenIds"/>, int64/int32 token ids;
    /// <paramref name="labelsPath"/> a 1-D integer array of N labels in <c>[0, classes)</c>. Class names are the numbers
    /// <c>0 .. classes - 1</c>.
    /// </summary>
    /// <exception cref="InvalidDataException">A file has the wrong element type or shape, or a label is out of range; the message names the file.</exception>
    public static SampleDataset Load(string samplesPath, string labelsPath, bool tokenIds, int classes)
    {
        var y = NpyFile.ReadLabels(labelsPath);
        return FromNpy(NpyData.ReadSamples(samplesPath, y, labelsPath, classes), y, tokenIds, NpyData.ClassNames(classes), samplesPath);
    }

    /// <summary>Samples <c>[N, ...]</c> from a read .npy array (see <see cref="Load"/>), labels already checked.</summary>
    /// <exception cref="InvalidDataException">The element type does not suit the model's input, or a value is not finite.</exception>
    public static SampleDataset FromNpy(NpyArray x, int[] labels, bool tokenIds, IReadOnlyList<string> classNames, string source)
    {
        ArgumentNullException.ThrowIfNull(x);
        var shape = x.Shape.Skip(1).Select(d => d is > 0 and <= int.MaxValue ? (int)d
            : throw new InvalidDataException($"{source}: dim {d} of shape ({string.Join(", ", x.Shape)}) is not a positive int")).ToArray();
        try
        {
            if (tokenIds)
                return x.DType is NpyDType.Int64 or NpyDType.Int32
                    ? new SampleDataset(x.ToInt64Array(), labels, shape, classNames, source)
                    : throw new InvalidDataException($"{source}: the model takes int64 token ids; the file holds {x.DType}");
            return x.DType is NpyDType.Float32 or NpyDType.Float64
                ? new SampleDataset(x.ToSingleArray(), labels, shape, classNames, source)
                : throw new InvalidDataException($"{source}: samples for a float model must be float32 or float64 (fed as they are), got {x.DType}"
                    + (x.DType == NpyDType.UInt8 ? $"; uint8 images are [N, H, W] or [N, C, H, W], this is ({string.Join(", ", x.Shape)})" : ""));
        }
        catch (ArgumentException e) { throw new InvalidDataException(e.Message, e); }
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Count} {(IsTokenIds ? "token-id" : "float")} samples [{string.Join("x", _shape)}], {ClassCount} classes ({Source})";
}
