namespace Acwa.Onnx.Data;

/// <summary>
/// Reads the CIFAR-10 binary version (<c>cifar-10-binary.tar.gz</c>): batch files of 3073-byte records, each one label
/// byte followed by 3072 pixel bytes, the 1024 red values of the 32x32 image row by row, then green, then blue (so the
/// record is already channel-first). Training batches are <c>data_batch_1.bin</c> .. <c>data_batch_5.bin</c>, the test
/// batch <c>test_batch.bin</c>; <c>batches.meta.txt</c>, when present, lists the class names one per line.
/// </summary>
public static class Cifar10Reader
{
    /// <summary>Bytes per record: 1 label + 3*32*32 pixels.</summary>
    public const int RecordSize = 1 + ImageBytes;

    private const int ImageBytes = 3 * 32 * 32;

    /// <summary>The standard class names, used when <c>batches.meta.txt</c> is absent.</summary>
    public static IReadOnlyList<string> DefaultClassNames { get; } =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>
    /// The folder that actually holds the batches: <paramref name="directory"/> itself, or its
    /// <c>cifar-10-batches-bin</c> subfolder (what the official archive extracts to).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">Neither holds <c>test_batch.bin</c> or <c>data_batch_1.bin</c>.</exception>
    public static string ResolveDirectory(string directory)
    {
        foreach (var candidate in new[] { directory, Path.Combine(directory, "cifar-10-batches-bin") })
            if (File.Exists(Path.Combine(candidate, "data_batch_1.bin")) || File.Exists(Path.Combine(candidate, "test_batch.bin")))
                return candidate;
        throw new DirectoryNotFoundException(
            $"'{directory}' holds no CIFAR-10 binary batches (data_batch_1.bin .. data_batch_5.bin, test_batch.bin), "
            + "neither directly nor in a cifar-10-batches-bin subfolder");
    }

    /// <summary>
    /// Class names from <c>batches.meta.txt</c> in the folder (non-empty lines, trimmed) or
    /// <see cref="DefaultClassNames"/> when that file is absent.
    /// </summary>
    public static IReadOnlyList<string> ReadClassNames(string directory)
    {
        var meta = Path.Combine(directory, "batches.meta.txt");
        if (!File.Exists(meta)) return DefaultClassNames;
        var names = File.ReadAllLines(meta).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length == 0) throw new InvalidDataException($"'{meta}' lists no class names");
        return names;
    }

    /// <summary>Loads the five training batches (50,000 images in the official release).</summary>
    public static ImageDataset LoadTrain(string directory)
    {
        var dir = ResolveDirectory(directory);
        return LoadBatches(Enumerable.Range(1, 5).Select(i => Path.Combine(dir, $"data_batch_{i}.bin")).ToArray(), ReadClassNames(dir), $"CIFAR-10 train ({dir})");
    }

    /// <summary>Loads the test batch (10,000 images in the official release).</summary>
    public static ImageDataset LoadTest(string directory)
    {
        var dir = ResolveDirectory(directory);
        return LoadBatches([Path.Combine(dir, "test_batch.bin")], ReadClassNames(dir), $"CIFAR-10 test ({dir})");
    }

    /// <summary>
    /// Concatenates batch files into one <c>[N, 3, 32, 32]</c> dataset, in file order.
    /// </summary>
    /// <exception cref="FileNotFoundException">A batch file is missing.</exception>
    /// <exception cref="InvalidDataException">
    /// A file's length is not a whole number of records (names the incomplete record) or a label is not below the class
    /// count (names file and record).
    /// </exception>
    public static ImageDataset LoadBatches(IReadOnlyList<string> paths, IReadOnlyList<string> classNames, string source)
    {
        long total = 0;
        foreach (var p in paths)
        {
            if (!File.Exists(p)) throw new FileNotFoundException($"CIFAR-10 batch '{p}' does not exist", p);
            long len = new FileInfo(p).Length;
            if (len % RecordSize != 0)
                throw new InvalidDataException(
                    $"'{p}' is truncated or not a CIFAR-10 binary batch: {len} bytes is not a multiple of the {RecordSize}-byte record; record {len / RecordSize} is incomplete");
            total += len / RecordSize;
        }
        if (total * ImageBytes > Array.MaxLength) throw new InvalidDataException($"{total} CIFAR-10 images do not fit in one array");
        var pixels = new byte[total * ImageBytes];
        var labels = new int[total];
        int n = 0;
        foreach (var p in paths)
        {
            var bytes = File.ReadAllBytes(p);
            for (int r = 0; r < bytes.Length / RecordSize; r++, n++)
            {
                int label = bytes[r * RecordSize];
                if (label >= classNames.Count)
                    throw new InvalidDataException($"'{p}': record {r} has label {label}, but the dataset declares {classNames.Count} classes (0..{classNames.Count - 1})");
                labels[n] = label;
                bytes.AsSpan(r * RecordSize + 1, ImageBytes).CopyTo(pixels.AsSpan(n * ImageBytes, ImageBytes));
            }
        }
        return new ImageDataset(pixels, labels, 3, 32, 32, classNames, source);
    }
}
