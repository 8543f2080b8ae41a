namespace Acwa.Onnx.Data;

/// <summary>
/// A dataset named on the command line:
/// <list type="bullet">
/// <item><c>fashion-mnist</c> or <c>fashion-mnist:DIR</c>: the Debian package's IDX files (default folder
/// <see cref="FashionMnist.DefaultDirectory"/>); <c>fashion-mnist</c> without a folder falls back to the embedded subset
/// (<see cref="FashionMnist.LoadEmbedded"/>) when the package is not installed, and says so in <see cref="DatasetPair.Origin"/>
/// and <see cref="DatasetPair.Notice"/>.</item>
/// <item><c>cifar10:DIR</c>: CIFAR-10 binary batches in DIR or DIR/cifar-10-batches-bin.</item>
/// <item><c>isic2018:DIR</c>: ISIC-2018 task 3 ground-truth CSV and JPEG folder (layout in <see cref="Isic2018Reader.ResolveTraining"/>).</item>
/// <item><c>folder:DIR</c>: images in one subfolder per class, optionally under train/ and test/ (<see cref="ImageFolderReader"/>).</item>
/// <item><c>idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS]</c>: any IDX files (raw or gzip); classes are
/// <c>0 .. max label</c> over all label files, named by their numbers.</item>
/// <item><c>npy:X.npy,Y.npy[,XTEST.npy,YTEST.npy]</c>: samples and integer labels in .npy files (<see cref="DatasetKind.Npy"/>;
/// read with <see cref="NpyData"/>).</item>
/// </list>
/// When a source has no test set (<c>idx</c> with two files, ISIC-2018 without the official test files) the test set is a
/// stratified split of <see cref="TestSplitFraction"/> of the training data with the fixed seed <see cref="TestSplitSeed"/>,
/// so every run (whatever its own seed) tests on the same images.
/// </summary>
/// <param name="Kind">Dataset family.</param>
/// <param name="Paths">The folder (fashion-mnist, cifar10, isic2018; empty for the default Fashion-MNIST folder) or the 2 or 4 IDX or .npy files.</param>
public sealed record DatasetSpec(DatasetKind Kind, IReadOnlyList<string> Paths)
{
    /// <summary>Fraction of the training data carved out as test set when the source has none.</summary>
    public const double TestSplitFraction = 0.2;

    /// <summary>Seed of that carved test split (fixed, independent of the run seed).</summary>
    public const ulong TestSplitSeed = 0;

    /// <summary>
    /// (kept, test) for a source without a test set: a stratified <see cref="TestSplitFraction"/> of <paramref name="data"/>
    /// with the fixed seed <see cref="TestSplitSeed"/>, so every run tests on the same samples.
    /// </summary>
    public static (T Train, T Test) CarveTest<T>(T data) where T : ILabeledDataset<T> =>
        StratifiedSplit.Split(data, TestSplitFraction, TestSplitSeed, "test");

    private const string Forms = "expected fashion-mnist[:DIR], cifar10:DIR, isic2018:DIR, folder:DIR (one subfolder per class) idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS] or npy:X.npy,Y.npy[,XTEST.npy,YTEST.npy]";

    /// <summary>Parses a spec; the kind is case-insensitive, everything after the first ':' is the argument.</summary>
    /// <exception cref="FormatException">Unknown kind or missing/extra arguments; the message shows the accepted forms.</exception>
    public static DatasetSpec Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var s = spec.Trim();
        int colon = s.IndexOf(':');
        var kind = (colon < 0 ? s : s[..colon]).ToLowerInvariant();
        var arg = colon < 0 ? null : s[(colon + 1)..];
        if (arg is not null && arg.Length == 0) throw new FormatException($"dataset '{spec}': nothing after ':' ({Forms})");
        switch (kind)
        {
            case "fashion-mnist" or "fashionmnist" or "fmnist":
                return new DatasetSpec(DatasetKind.FashionMnist, arg is null ? [] : [arg]);
            case "cifar10" or "cifar-10":
                return new DatasetSpec(DatasetKind.Cifar10, [arg ?? throw new FormatException($"dataset '{spec}': cifar10 needs a folder, e.g. cifar10:/data/cifar-10-batches-bin ({Forms})")]);
            case "isic2018" or "isic-2018" or "isic":
                return new DatasetSpec(DatasetKind.Isic2018, [arg ?? throw new FormatException($"dataset '{spec}': isic2018 needs a folder, e.g. isic2018:/data/isic2018 ({Forms})")]);
            case "folder" or "imagefolder":
                return new DatasetSpec(DatasetKind.ImageFolder, [arg ?? throw new FormatException($"dataset '{spec}': folder needs a folder, e.g. folder:/data/photos ({Forms})")]);
            case "idx":
                var files = arg?.Split(',', StringSplitOptions.TrimEntries) ?? [];
                if (files.Length is not (2 or 4) || files.Any(f => f.Length == 0))
                    throw new FormatException($"dataset '{spec}': idx needs 2 or 4 comma-separated files, got {files.Length} ({Forms})");
                return new DatasetSpec(DatasetKind.Idx, files);
            case "npy":
                var arrays = arg?.Split(',', StringSplitOptions.TrimEntries) ?? [];
                if (arrays.Length is not (2 or 4) || arrays.Any(f => f.Length == 0))
                    throw new FormatException($"dataset '{spec}': expected npy:X.npy,Y.npy or npy:X.npy,Y.npy,XTEST.npy,YTEST.npy (got {arrays.Length} files)");
                return new DatasetSpec(DatasetKind.Npy, arrays);
            default:
                throw new FormatException($"unknown dataset '{spec}' ({Forms})");
        }
    }

    /// <summary>
    /// Loads the training and test sets. Default preprocessing: Fashion-MNIST <see cref="Normalization.FashionMnist"/>,
    /// CIFAR-10 <see cref="Normalization.Cifar10"/>, ISIC-2018, image folders and IDX statistics computed from the training set
    /// (<see cref="Normalization.Compute"/>); augmentation <see cref="Augmentation.PadCropFlip"/> for colour images,
    /// none for greyscale.
    /// </summary>
    /// <param name="imageSize">ISIC-2018 and image folders: side of the resized square images.</param>
    /// <param name="cacheDirectory">ISIC-2018 and image folders: where to keep the decode cache (default: next to the data).</param>
    /// <param name="grey">ISIC-2018 and image folders: convert the decoded RGB images to one grey channel
    /// (<see cref="ImageDataset.ToGrey"/>), for models that take <c>[N, 1, H, W]</c>.</param>
    /// <exception cref="NotSupportedException">An <see cref="DatasetKind.Npy"/> spec (its samples need not be images; read them with <see cref="NpyData"/>).</exception>
    public DatasetPair Load(int imageSize = Isic2018Reader.DefaultSize, string? cacheDirectory = null, bool grey = false)
    {
        switch (Kind)
        {
            case DatasetKind.Npy:
                throw new NotSupportedException($"dataset '{this}': .npy samples are read with NpyData, not as an image dataset pair");
            case DatasetKind.FashionMnist:
                return LoadFashionMnist(FashionMnist.DefaultDirectory);
            case DatasetKind.Cifar10:
                return new DatasetPair(Cifar10Reader.LoadTrain(Paths[0]), Cifar10Reader.LoadTest(Paths[0]), Normalization.Cifar10, Augmentation.PadCropFlip);
            case DatasetKind.Isic2018:
            {
                var (csv, images) = Isic2018Reader.ResolveTraining(Paths[0]);
                var train = Isic2018Reader.Load(csv, images, imageSize, imageSize, cacheDirectory);
                ImageDataset test;
                if (Isic2018Reader.ResolveTest(Paths[0]) is var (testCsv, testImages))
                {
                    test = Isic2018Reader.Load(testCsv, testImages, imageSize, imageSize, cacheDirectory);
                    if (!test.ClassNames.SequenceEqual(train.ClassNames))
                        throw new InvalidDataException($"'{testCsv}' has classes {string.Join(",", test.ClassNames)}, but '{csv}' has {string.Join(",", train.ClassNames)}");
                }
                else
                    (train, test) = CarveTest(train);
                return Decoded(train, test, grey);
            }
            case DatasetKind.ImageFolder:
            {
                var (trainDir, testDir) = ImageFolderReader.Resolve(Paths[0]);
                var train = ImageFolderReader.Load(trainDir, imageSize, cacheDirectory);
                ImageDataset test;
                if (testDir is not null) test = ImageFolderReader.Load(testDir, imageSize, cacheDirectory, train.ClassNames);
                else (train, test) = CarveTest(train);
                return Decoded(train, test, grey);
            }
            default:
            {
                int classes = 1 + Paths.Where((_, i) => i % 2 == 1).Max(p => IdxReader.ReadLabels(p).DefaultIfEmpty().Max());
                var names = Enumerable.Range(0, classes).Select(c => c.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                var train = IdxReader.Load(Paths[0], Paths[1], names);
                ImageDataset test;
                if (Paths.Count == 4) test = IdxReader.Load(Paths[2], Paths[3], names);
                else (train, test) = CarveTest(train);
                if (test.Height != train.Height || test.Width != train.Width)
                    throw new InvalidDataException($"test images '{Paths[2]}' are {test.Height}x{test.Width}, training images '{Paths[0]}' are {train.Height}x{train.Width}");
                return new DatasetPair(train, test, Normalization.Compute(train), train.Channels == 3 ? Augmentation.PadCropFlip : Augmentation.None);
            }
        }
    }

    /// <summary>
    /// Where <see cref="Load"/> reads from, looked up now: <see cref="DatasetOrigin.EmbeddedSubset"/> for <c>fashion-mnist</c>
    /// without a folder when the full set is not installed in <see cref="FashionMnist.DefaultDirectory"/>, else
    /// <see cref="DatasetOrigin.Files"/> (a folder given explicitly is never replaced: a missing one is an error).
    /// </summary>
    public DatasetOrigin ResolveOrigin() => ResolveOrigin(FashionMnist.DefaultDirectory);

    /// <summary><see cref="ResolveOrigin()"/> with the full set looked for in <paramref name="installedDirectory"/> (tests).</summary>
    internal DatasetOrigin ResolveOrigin(string installedDirectory) =>
        Kind == DatasetKind.FashionMnist && Paths.Count == 0 && !FashionMnist.IsAvailable(installedDirectory) ? DatasetOrigin.EmbeddedSubset : DatasetOrigin.Files;

    /// <summary>Fashion-MNIST from the folder given, else from <paramref name="installedDirectory"/> when the full set is there, else the embedded subset.</summary>
    internal DatasetPair LoadFashionMnist(string installedDirectory)
    {
        if (ResolveOrigin(installedDirectory) == DatasetOrigin.EmbeddedSubset)
            return new DatasetPair(FashionMnist.LoadEmbedded(true), FashionMnist.LoadEmbedded(false), Normalization.FashionMnist, Augmentation.None)
                { Origin = DatasetOrigin.EmbeddedSubset, Notice = FashionMnist.EmbeddedNotice };
        var dir = Paths.Count > 0 ? Paths[0] : installedDirectory;
        return new DatasetPair(FashionMnist.Load(true, dir), FashionMnist.Load(false, dir), Normalization.FashionMnist, Augmentation.None);
    }

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        DatasetKind.FashionMnist => Paths.Count == 0 ? "fashion-mnist" : $"fashion-mnist:{Paths[0]}",
        DatasetKind.Cifar10 => $"cifar10:{Paths[0]}",
        DatasetKind.Isic2018 => $"isic2018:{Paths[0]}",
        DatasetKind.ImageFolder => $"folder:{Paths[0]}",
        DatasetKind.Npy => $"npy:{string.Join(",", Paths)}",
        _ => $"idx:{string.Join(",", Paths)}",
    };

    /// <summary>Decoded colour images (ISIC-2018, image folders), optionally as grey; normalisation from the training set, pad-crop-flip.</summary>
    private static DatasetPair Decoded(ImageDataset train, ImageDataset test, bool grey)
    {
        if (grey) (train, test) = (train.ToGrey(), test.ToGrey());
        return new DatasetPair(train, test, Normalization.Compute(train), Augmentation.PadCropFlip);
    }
}
