using System.Globalization;
using System.Text;
using Acwa.Onnx.IO;

namespace Acwa.Onnx.Data;

/// <summary>
/// Reads ISIC-2018 task 3 (skin-lesion classification): a ground-truth CSV with header
/// <c>image,MEL,NV,BCC,AKIEC,BKL,DF,VASC</c> and one-hot float columns (<c>1.0</c>/<c>0.0</c>), and a folder of JPEGs
/// named <c>&lt;image&gt;.jpg</c>. Images are decoded with SkiaSharp, converted to RGB and resized (aspect ratio not
/// kept) to a square of <see cref="DefaultSize"/> pixels unless told otherwise. The decoded tensor is cached with
/// <see cref="TensorFile"/>, keyed by the CSV bytes, every image's size and modification time, and the target size,
/// so a second load with unchanged files decodes nothing. See docs/data.md for the folder layout.
/// </summary>
public static class Isic2018Reader
{
    /// <summary>Default side of the resized square images.</summary>
    public const int DefaultSize = 64;

    /// <summary>Official name of the training ground-truth CSV.</summary>
    public const string TrainingCsvName = "ISIC2018_Task3_Training_GroundTruth.csv";

    /// <summary>Official name of the training image folder.</summary>
    public const string TrainingImagesName = "ISIC2018_Task3_Training_Input";

    /// <summary>Official name of the test ground-truth CSV (released after the challenge).</summary>
    public const string TestCsvName = "ISIC2018_Task3_Test_GroundTruth.csv";

    /// <summary>Official name of the test image folder.</summary>
    public const string TestImagesName = "ISIC2018_Task3_Test_Input";

    /// <summary>The official class columns, in CSV order.</summary>
    public static IReadOnlyList<string> ClassNames { get; } = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"];

    private const string CacheFormat = "acwa-isic2018-cache/1";
    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".JPG", ".JPEG", ".png", ".PNG"];

    /// <summary>
    /// Finds the training CSV and image folder in <paramref name="directory"/>. CSV: <see cref="TrainingCsvName"/> in the
    /// folder or in a subfolder named like it without extension (how the official zip extracts); otherwise the only
    /// <c>*.csv</c> file in the folder. Images: <see cref="TrainingImagesName"/>, else <c>images/</c>, else the folder itself.
    /// </summary>
    /// <exception cref="FileNotFoundException">No CSV can be chosen; the message lists what was looked for.</exception>
    public static (string Csv, string ImageDirectory) ResolveTraining(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"ISIC-2018 folder '{directory}' does not exist");
        var csv = FindOfficial(directory, TrainingCsvName);
        if (csv is null)
        {
            var csvs = Directory.GetFiles(directory, "*.csv").Where(f => !Path.GetFileName(f).Contains("_Test_", StringComparison.Ordinal)
                && !Path.GetFileName(f).Contains("_Validation_", StringComparison.Ordinal)).ToArray();
            if (csvs.Length != 1)
                throw new FileNotFoundException(
                    $"'{directory}' has no {TrainingCsvName} (also looked in its {Path.GetFileNameWithoutExtension(TrainingCsvName)}/ subfolder) "
                    + $"and {(csvs.Length == 0 ? "no other" : "more than one other")} .csv file to use as ground truth");
            csv = csvs[0];
        }
        var images = new[] { Path.Combine(directory, TrainingImagesName), Path.Combine(directory, "images") }.FirstOrDefault(Directory.Exists) ?? directory;
        return (csv, images);
    }

    /// <summary>
    /// Finds the official test CSV (<see cref="TestCsvName"/>) and image folder (<see cref="TestImagesName"/>);
    /// null when either is absent.
    /// </summary>
    public static (string Csv, string ImageDirectory)? ResolveTest(string directory)
    {
        var csv = FindOfficial(directory, TestCsvName);
        var images = Path.Combine(directory, TestImagesName);
        return csv is not null && Directory.Exists(images) ? (csv, images) : null;
    }

    /// <summary>Loads the training split of the folder (see <see cref="ResolveTraining"/>).</summary>
    public static ImageDataset LoadTraining(string directory, int size = DefaultSize, string? cacheDirectory = null)
    {
        var (csv, images) = ResolveTraining(directory);
        return Load(csv, images, size, size, cacheDirectory, out _);
    }

    /// <summary>
    /// Loads the images listed in <paramref name="csvPath"/> from <paramref name="imageDirectory"/> as an
    /// <c>[N, 3, height, width]</c> dataset, labels in CSV row order, class names from the CSV header.
    /// Uses and refreshes the decode cache (see <see cref="Load(string, string, int, int, string?, out int)"/>).
    /// </summary>
    public static ImageDataset Load(string csvPath, string imageDirectory, int width = DefaultSize, int height = DefaultSize, string? cacheDirectory = null)
        => Load(csvPath, imageDirectory, width, height, cacheDirectory, out _);

    /// <summary>
    /// As <see cref="Load(string, string, int, int, string?)"/>, reporting how many images were decoded (0 on a cache hit).
    /// The cache file is <c>isic2018-WxH-KEY.acwt</c> in <paramref name="cacheDirectory"/> or, by default, in
    /// <c>.acwa-cache/</c> next to the CSV, falling back to <c>$XDG_CACHE_HOME/acwa</c> (or <c>~/.cache/acwa</c>) when that
    /// is not writable. An unreadable or corrupt cache file is ignored and rewritten; failing to write the cache is not an error.
    /// </summary>
    /// <exception cref="InvalidDataException">A bad CSV row (names file, line and problem) or an undecodable image.</exception>
    /// <exception cref="FileNotFoundException">The CSV or an image it lists is missing (names the CSV line).</exception>
    internal static ImageDataset Load(string csvPath, string imageDirectory, int width, int height, string? cacheDirectory, out int decoded)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"target size {width}x{height} must be positive");
        if (!File.Exists(csvPath)) throw new FileNotFoundException($"ISIC-2018 ground-truth CSV '{csvPath}' does not exist", csvPath);
        var csvBytes = File.ReadAllBytes(csvPath);
        var (classNames, rows) = ParseCsv(csvPath, csvBytes);
        var files = new FileInfo[rows.Count];
        for (int i = 0; i < rows.Count; i++)
            files[i] = FindImage(imageDirectory, rows[i].Image)
                ?? throw new FileNotFoundException(
                    $"'{csvPath}' line {rows[i].Line}: image '{rows[i].Image}' is missing (looked for {rows[i].Image}.jpg in '{imageDirectory}')",
                    Path.Combine(imageDirectory, rows[i].Image + ".jpg"));

        var labels = rows.Select(r => r.Label).ToArray();
        string source = $"ISIC-2018 {Path.GetFileName(csvPath)} ({width}x{height})";
        var dirs = cacheDirectory is not null ? [cacheDirectory] : ImageFiles.DefaultCacheDirectories(Path.GetDirectoryName(Path.GetFullPath(csvPath))!);
        var pixels = ImageFiles.LoadPixels(files, i => $"'{files[i].FullName}' (listed on '{csvPath}' line {rows[i].Line})", width, height,
            CacheFormat, "isic2018", csvBytes, dirs, out decoded);
        if (decoded == 0) source += " [cache]";
        return new ImageDataset(pixels, labels, 3, height, width, classNames, source);
    }

    /// <summary>
    /// Parses a one-hot ground-truth CSV: header <c>image,CLASS1,...</c>, then one row per image with exactly one
    /// column equal to 1 and the rest 0 (any number format parseable as a double). Blank lines are skipped.
    /// </summary>
    internal static (string[] ClassNames, List<(string Image, int Label, int Line)> Rows) ParseCsv(string path, byte[] bytes)
    {
        var text = Encoding.UTF8.GetString(bytes).TrimStart('\uFEFF');
        var lines = text.Split('\n');
        int headerLine = Array.FindIndex(lines, l => l.Trim().Length > 0);
        if (headerLine < 0) throw new InvalidDataException($"'{path}' is empty: expected a header like image,{string.Join(",", ClassNames)}");
        var header = lines[headerLine].Trim().Split(',').Select(h => h.Trim()).ToArray();
        if (header.Length < 3 || !header[0].Equals("image", StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"'{path}' line {headerLine + 1}: header '{lines[headerLine].Trim()}' must be 'image' followed by at least two class columns, e.g. image,{string.Join(",", ClassNames)}");
        var classNames = header[1..];
        var rows = new List<(string, int, int)>();
        for (int li = headerLine + 1; li < lines.Length; li++)
        {
            var line = lines[li].Trim();
            if (line.Length == 0) continue;
            int lineNo = li + 1;
            var cols = line.Split(',');
            if (cols.Length != header.Length)
                throw new InvalidDataException($"'{path}' line {lineNo}: {cols.Length} columns, the header has {header.Length}");
            var image = cols[0].Trim();
            if (image.Length == 0) throw new InvalidDataException($"'{path}' line {lineNo}: the image column is empty");
            int label = -1;
            var hot = new List<string>();
            for (int c = 1; c < cols.Length; c++)
            {
                if (!double.TryParse(cols[c].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || (v != 0 && v != 1))
                    throw new InvalidDataException($"'{path}' line {lineNo} ({image}): column {header[c]} is '{cols[c].Trim()}', expected 0 or 1");
                if (v == 1) { label = c - 1; hot.Add(header[c]); }
            }
            if (hot.Count == 0) throw new InvalidDataException($"'{path}' line {lineNo} ({image}): no class column is 1 (all zeros)");
            if (hot.Count > 1) throw new InvalidDataException($"'{path}' line {lineNo} ({image}): several classes are 1 ({string.Join(", ", hot)}); expected exactly one");
            rows.Add((image, label, lineNo));
        }
        return (classNames, rows);
    }

    private static FileInfo? FindImage(string directory, string image)
    {
        foreach (var ext in ImageExtensions)
        {
            var f = new FileInfo(Path.Combine(directory, image + ext));
            if (f.Exists) return f;
        }
        return null;
    }

    private static string? FindOfficial(string directory, string name)
    {
        foreach (var p in new[] { Path.Combine(directory, name), Path.Combine(directory, Path.GetFileNameWithoutExtension(name), name) })
            if (File.Exists(p)) return p;
        return null;
    }

}
