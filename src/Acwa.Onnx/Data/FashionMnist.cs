using System.Globalization;

namespace Acwa.Onnx.Data;

/// <summary>
/// Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test greyscale 28x28 images of 10 clothing classes,
/// read from the IDX files of the Debian package <c>dataset-fashion-mnist</c>. Without the package (and without a folder
/// named by the caller) a fixed stratified subset embedded in this library stands in: <see cref="EmbeddedTrainPerClass"/>
/// training and <see cref="EmbeddedTestPerClass"/> test images per class (<see cref="LoadEmbedded"/>; docs/data.md).
/// </summary>
public static class FashionMnist
{
    /// <summary>Where the Debian package installs the files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Training images per class in the embedded subset (the first of each class in the official training file).</summary>
    public const int EmbeddedTrainPerClass = 1000;

    /// <summary>Test images per class in the embedded subset (the first of each class in the official test file).</summary>
    public const int EmbeddedTestPerClass = 200;

    /// <summary>The line to show the user when the embedded subset stands in for the full set.</summary>
    public static string EmbeddedNotice { get; } = string.Create(CultureInfo.InvariantCulture,
        $"Fashion-MNIST not installed in {DefaultDirectory} (apt-get install dataset-fashion-mnist): using the embedded subset of {EmbeddedTrainPerClass * 10:N0} training and {EmbeddedTestPerClass * 10:N0} test images");

    /// <summary>The 10 class names, index = label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>File names of the training images and labels (gzip).</summary>
    public static (string Images, string Labels) TrainFiles { get; } = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");

    /// <summary>File names of the test images and labels (gzip).</summary>
    public static (string Images, string Labels) TestFiles { get; } = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");

    /// <summary>Prefix of the embedded subset's manifest resource names; the file name follows (the official names).</summary>
    internal const string EmbeddedResourcePrefix = "Acwa.Onnx.Data.Embedded.fashion-mnist.";

    /// <summary>True when all four files exist in <paramref name="directory"/> (default: <see cref="DefaultDirectory"/>).</summary>
    public static bool IsAvailable(string? directory = null)
    {
        var dir = directory ?? DefaultDirectory;
        return new[] { TrainFiles.Images, TrainFiles.Labels, TestFiles.Images, TestFiles.Labels }
            .All(f => File.Exists(Path.Combine(dir, f)));
    }

    /// <summary>
    /// What <see cref="Load"/> without a folder reads now: <see cref="DatasetOrigin.Files"/> (the full set in
    /// <see cref="DefaultDirectory"/>) when it is installed, else <see cref="DatasetOrigin.EmbeddedSubset"/>.
    /// </summary>
    public static DatasetOrigin DefaultOrigin => IsAvailable() ? DatasetOrigin.Files : DatasetOrigin.EmbeddedSubset;

    /// <summary>
    /// Loads the training (60,000) or test (10,000) split from <paramref name="directory"/>; without one, from
    /// <see cref="DefaultDirectory"/> when all four files are there, else the embedded subset (<see cref="LoadEmbedded"/>;
    /// <see cref="DefaultOrigin"/> says which).
    /// </summary>
    /// <param name="train">True for the training split, false for the test split.</param>
    /// <param name="directory">Folder with the IDX files; null: the installed full set or the embedded subset.</param>
    /// <exception cref="FileNotFoundException">A file is missing from the folder given; the message names it and says how to install the package.</exception>
    public static ImageDataset Load(bool train, string? directory = null)
    {
        if (directory is null && !IsAvailable()) return LoadEmbedded(train);
        var dir = directory ?? DefaultDirectory;
        var (images, labels) = train ? TrainFiles : TestFiles;
        var ip = Path.Combine(dir, images);
        var lp = Path.Combine(dir, labels);
        foreach (var p in new[] { ip, lp })
            if (!File.Exists(p))
                throw new FileNotFoundException(
                    $"Fashion-MNIST file '{p}' is missing. Install the Debian package with `apt-get install dataset-fashion-mnist` "
                    + $"(it puts the IDX files in {DefaultDirectory}), use `fashion-mnist` without a folder for the embedded subset, "
                    + "or `idx:TRAIN_IMAGES,TRAIN_LABELS,TEST_IMAGES,TEST_LABELS`.", p);
        var ds = IdxReader.Load(ip, lp, ClassNames);
        return new ImageDataset(ds.Pixels.ToArray(), ds.Labels.ToArray(), 1, ds.Height, ds.Width, ClassNames,
            $"Fashion-MNIST {(train ? "train" : "test")} ({dir})");
    }

    /// <summary>
    /// The embedded subset's training (<see cref="EmbeddedTrainPerClass"/> per class, 10,000) or test
    /// (<see cref="EmbeddedTestPerClass"/> per class, 2,000) split: the first images of each class in the official files,
    /// in their order, stored as the official IDX gzip files and read by <see cref="IdxReader"/> like the full set
    /// (provenance: src/Acwa.Onnx/Data/Embedded/fashion-mnist/provenance.json; MIT, Zalando SE).
    /// </summary>
    public static ImageDataset LoadEmbedded(bool train)
    {
        var (images, labels) = train ? TrainFiles : TestFiles;
        using var ims = OpenEmbedded(images);
        using var lbs = OpenEmbedded(labels);
        var ds = IdxReader.Load(ims, "embedded " + images, lbs, "embedded " + labels, ClassNames);
        var perClass = train ? EmbeddedTrainPerClass : EmbeddedTestPerClass;
        return new ImageDataset(ds.Pixels.ToArray(), ds.Labels.ToArray(), 1, ds.Height, ds.Width, ClassNames,
            string.Create(CultureInfo.InvariantCulture, $"Fashion-MNIST {(train ? "train" : "test")} (embedded subset, {perClass:N0} per class)"));
    }

    /// <summary>The embedded copy of one of the official file names (its gzip bytes, as committed).</summary>
    internal static Stream OpenEmbedded(string fileName) =>
        typeof(FashionMnist).Assembly.GetManifestResourceStream(EmbeddedResourcePrefix + fileName)
        ?? throw new FileNotFoundException($"Acwa.Onnx has no embedded resource '{EmbeddedResourcePrefix + fileName}'", fileName);
}
