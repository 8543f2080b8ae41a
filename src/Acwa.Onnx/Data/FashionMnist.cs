namespace Acwa.Onnx.Data;

/// <summary>
/// Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test greyscale 28x28 images of 10 clothing classes,
/// read from the IDX files of the Debian package <c>dataset-fashion-mnist</c>.
/// </summary>
public static class FashionMnist
{
    /// <summary>Where the Debian package installs the files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The 10 class names, index = label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>File names of the training images and labels (gzip).</summary>
    public static (string Images, string Labels) TrainFiles { get; } = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");

    /// <summary>File names of the test images and labels (gzip).</summary>
    public static (string Images, string Labels) TestFiles { get; } = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");

    /// <summary>True when all four files exist in <paramref name="directory"/> (default: <see cref="DefaultDirectory"/>).</summary>
    public static bool IsAvailable(string? directory = null)
    {
        var dir = directory ?? DefaultDirectory;
        return new[] { TrainFiles.Images, TrainFiles.Labels, TestFiles.Images, TestFiles.Labels }
            .All(f => File.Exists(Path.Combine(dir, f)));
    }

    /// <summary>Loads the training (60,000) or test (10,000) split.</summary>
    /// <param name="train">True for the training split, false for the test split.</param>
    /// <param name="directory">Folder with the IDX files; default <see cref="DefaultDirectory"/>.</param>
    /// <exception cref="FileNotFoundException">A file is missing; the message says how to install the package.</exception>
    public static ImageDataset Load(bool train, string? directory = null)
    {
        var dir = directory ?? DefaultDirectory;
        var (images, labels) = train ? TrainFiles : TestFiles;
        var ip = Path.Combine(dir, images);
        var lp = Path.Combine(dir, labels);
        foreach (var p in new[] { ip, lp })
            if (!File.Exists(p))
                throw new FileNotFoundException(
                    $"Fashion-MNIST file '{p}' is missing. Install the Debian package with `apt-get install dataset-fashion-mnist` "
                    + $"(it puts the IDX files in {DefaultDirectory}), or use `idx:TRAIN_IMAGES,TRAIN_LABELS,TEST_IMAGES,TEST_LABELS`.", p);
        var ds = IdxReader.Load(ip, lp, ClassNames);
        return new ImageDataset(ds.Pixels.ToArray(), ds.Labels.ToArray(), 1, ds.Height, ds.Width, ClassNames,
            $"Fashion-MNIST {(train ? "train" : "test")} ({dir})");
    }
}
