using System.Text;

namespace Acwa.Onnx.Data;

/// <summary>
/// A folder of images, one subfolder per class (the layout torchvision's ImageFolder reads): <c>DIR/&lt;class&gt;/*.jpg|png|...</c>,
/// or <c>DIR/train/&lt;class&gt;/...</c> with an optional <c>DIR/test/&lt;class&gt;/...</c>. Classes are the subfolder names in
/// ordinal order (label i = i-th name); images are taken in ordinal order of their names within a class. Hidden entries
/// (names starting with '.', e.g. the <c>.acwa-cache</c> folder) are ignored. Images are decoded, converted to RGB and
/// resized to a square of the given side (aspect ratio not kept); the decoded tensor is cached like ISIC-2018's.
/// </summary>
public static class ImageFolderReader
{
    private const string CacheFormat = "acwa-imagefolder-cache/1";

    /// <summary>
    /// The training folder and, when present, the test folder of <paramref name="directory"/>: <c>train/</c> and
    /// <c>test/</c> if <c>train/</c> exists, else the folder itself and no test folder.
    /// </summary>
    public static (string Train, string? Test) Resolve(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"image folder '{directory}' does not exist");
        var train = Path.Combine(directory, "train");
        if (!Directory.Exists(train)) return (directory, null);
        var test = Path.Combine(directory, "test");
        return (train, Directory.Exists(test) ? test : null);
    }

    /// <summary>
    /// Loads one split folder as an <c>[N, 3, size, size]</c> dataset. With <paramref name="classNames"/> given (a test
    /// split), its class folders must be exactly those.
    /// </summary>
    /// <exception cref="InvalidDataException">No class folders, a class folder without images, class folders that differ
    /// from <paramref name="classNames"/>, or an undecodable image; the message names the folder or file.</exception>
    public static ImageDataset Load(string directory, int size, string? cacheDirectory = null, IReadOnlyList<string>? classNames = null)
        => Load(directory, size, cacheDirectory, classNames, out _);

    internal static ImageDataset Load(string directory, int size, string? cacheDirectory, IReadOnlyList<string>? classNames, out int decoded)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"image folder '{directory}' does not exist");
        var classes = Directory.GetDirectories(directory).Select(Path.GetFileName).Where(n => !n!.StartsWith('.'))
            .Order(StringComparer.Ordinal).ToArray()!;
        if (classes.Length < 2)
            throw new InvalidDataException($"'{directory}' has {classes.Length} class folder(s); expected one subfolder per class (at least two), e.g. {Path.Combine(directory, "cat")}/*.jpg");
        if (classNames is not null && !classes.SequenceEqual(classNames))
            throw new InvalidDataException($"'{directory}' has the class folders {string.Join(", ", classes)}, the training folder has {string.Join(", ", classNames)}");
        var files = new List<FileInfo>();
        var labels = new List<int>();
        var listing = new StringBuilder();
        for (int c = 0; c < classes.Length; c++)
        {
            var folder = Path.Combine(directory, classes[c]!);
            var images = Directory.GetFiles(folder).Where(f => !Path.GetFileName(f).StartsWith('.') && ImageFiles.IsImage(f))
                .Order(StringComparer.Ordinal).ToArray();
            if (images.Length == 0)
                throw new InvalidDataException($"class folder '{folder}' has no images ({string.Join(", ", ImageFiles.Extensions)})");
            foreach (var f in images)
            {
                files.Add(new FileInfo(f));
                labels.Add(c);
                listing.Append(classes[c]).Append('/').Append(Path.GetFileName(f)).Append('\n');
            }
        }
        var dirs = cacheDirectory is not null ? [cacheDirectory] : ImageFiles.DefaultCacheDirectories(directory);
        var all = files.ToArray();
        var pixels = ImageFiles.LoadPixels(all, i => $"'{all[i].FullName}'", size, size, CacheFormat, "imagefolder",
            Encoding.UTF8.GetBytes(listing.ToString()), dirs, out decoded);
        var source = $"image folder {directory} ({size}x{size}){(decoded == 0 ? " [cache]" : "")}";
        return new ImageDataset(pixels, labels.ToArray(), 3, size, size, classes!, source);
    }

    /// <summary>
    /// Size and colour of the first image of the first class folder of <paramref name="directory"/> (its training folder,
    /// <see cref="Resolve"/>) as stored, e.g. "a 28x28 grey PNG", read from the file's header; null when there is none or it
    /// cannot be read.
    /// </summary>
    internal static string? FirstImageFormat(string directory)
    {
        try
        {
            var (train, _) = Resolve(directory);
            var folder = Directory.GetDirectories(train).Where(d => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal).FirstOrDefault();
            var file = folder is null ? null : Directory.GetFiles(folder).Where(f => !Path.GetFileName(f).StartsWith('.') && ImageFiles.IsImage(f))
                .Order(StringComparer.Ordinal).FirstOrDefault();
            return file is null ? null : ImageFiles.Describe(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
