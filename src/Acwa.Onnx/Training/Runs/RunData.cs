using Acwa.Onnx.Data;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.IO;
using Acwa.Onnx.Models;
using Acwa.Onnx.Training.Runtime;
using Acwa.Onnx.Weighting;

namespace Acwa.Onnx.Training.Runs;

/// <summary>
/// A run's splits and how to train on them: images (normalised, augmented, a built-in model possible) or samples from
/// .npy files that are not images (fed as they are, a model file needed).
/// </summary>
internal sealed record RunData(string Name, ILabeledDataset Train, ILabeledDataset Validation, ILabeledDataset Test,
    Normalization? Normalization, Augmentation? Augmentation, Func<int, ModelProto>? BuiltIn,
    Func<StepRunner, IClassWeightPolicy, TrainerOptions, Trainer> NewTrainer)
{
    /// <summary>What the model is fed, one line: the sample shape and any resize or colour conversion on the way.</summary>
    public string Input { get; init; } = "";

    /// <summary>
    /// Loads <see cref="TrainingRunOptions.Dataset"/> for the model (<paramref name="modelFile"/>: null for a built-in model);
    /// a dataset's notice (the embedded Fashion-MNIST subset standing in for the full set) goes to <paramref name="log"/>.
    /// </summary>
    public static RunData Load(TrainingRunOptions o, ModelProto? modelFile, TextWriter log)
    {
        var spec = DatasetSpec.Parse(o.Dataset);
        if (spec.Kind == DatasetKind.Npy) return LoadNpy(o, spec.Paths, modelFile);
        int side = o.ImageSize ?? ModelCatalog.DeclaredImageSide(modelFile) ?? Isic2018Reader.DefaultSize;
        bool grey = ModelCatalog.DeclaredGrey(modelFile);
        var pair = spec.Load(side, o.CacheDir, grey);
        if (pair.Notice is not null) log.WriteLine(pair.Notice);
        var run = ImageRun(o, modelFile, spec.ToString(), pair);
        if (spec.Kind is not (DatasetKind.ImageFolder or DatasetKind.Isic2018)) return run;
        string from = o.ImageSize is not null ? "the image size asked for"
            : ModelCatalog.DeclaredImageSide(modelFile) is not null ? $"the input side model {o.Model} declares"
            : "the default side; set it with the image size option";
        string files = spec.Kind == DatasetKind.ImageFolder && ImageFolderReader.FirstImageFormat(spec.Paths[0]) is { } first ? $" (the first is {first})" : "";
        return run with
        {
            Input = $"{Shape(run.Train)}: image files{files} decoded, converted to RGB{(grey ? " and then to grey" : "")}, resized to {side}x{side} " +
                    $"({from}; aspect ratio not kept)",
        };
    }

    /// <summary>"input [C, H, W] images" of a dataset's samples.</summary>
    private static string Shape(ILabeledDataset d) => d is ImageDataset i ? $"input [{i.Channels}, {i.Height}, {i.Width}] images" : "input";

    /// <summary>The run's imbalance protocol on the training data, then its stratified validation split.</summary>
    private static (T Train, T Validation) TrainAndValidation<T>(TrainingRunOptions o, T data) where T : ILabeledDataset<T> =>
        StratifiedSplit.Split(ImbalanceProtocol.Parse(o.ResolveImbalance()).Apply(data, o.Seed), o.ValidationFraction, o.Seed);

    /// <summary>The imbalance protocol and the validation split on the training images, and the input check against a model file.</summary>
    private static RunData ImageRun(TrainingRunOptions o, ModelProto? modelFile, string name, DatasetPair pair)
    {
        var (train, validation) = TrainAndValidation(o, pair.Train);
        if (ModelCatalog.InputMismatch(modelFile, o.Model, train.Channels, train.Height, train.Width) is { } mismatch)
            throw new ArgumentException(mismatch);
        return new RunData(name, train, validation, pair.Test, pair.Normalization, pair.Augmentation,
            classes => ModelCatalog.Resolve(o.Model, classes, train.Channels, train.Height, train.Width, (int)(o.Seed % int.MaxValue)),
            (runner, policy, options) => new Trainer(runner, train, validation, policy, options, pair.Test))
        {
            Input = $"{Shape(train)} as stored (no resize, no colour conversion)",
        };
    }

    /// <summary>
    /// <c>npy:X.npy,Y.npy[,XTEST.npy,YTEST.npy]</c>: uint8 images <c>[N, H, W]</c> or <c>[N, C, H, W]</c> (normalised with
    /// statistics of the training images, pad-crop-flip for colour, as IDX files), else samples fed as they are: floats
    /// (features, sequences, signals) or, for a model whose input is int64, token ids. Classes are <c>0 .. max label</c> over
    /// the label files; without test files the test set is a stratified split carved from the training data
    /// (<see cref="DatasetSpec.TestSplitFraction"/>, fixed seed), as for IDX files.
    /// </summary>
    private static RunData LoadNpy(TrainingRunOptions o, IReadOnlyList<string> files, ModelProto? modelFile)
    {
        bool ids = modelFile is not null && ModelCatalog.TakesTokenIds(modelFile);
        var y = NpyFile.ReadLabels(files[1]);
        var testY = files.Count == 4 ? NpyFile.ReadLabels(files[3]) : null;
        int classes = Math.Max(NpyData.LabelCount(y, files[1]), testY is null ? 0 : NpyData.LabelCount(testY, files[3]));
        var names = NpyData.ClassNames(classes);
        var x = NpyData.ReadSamples(files[0], y, files[1], classes);
        var testFiles = testY is null ? default : (X: NpyData.ReadSamples(files[2], testY, files[3], classes), Y: testY);
        string shape = string.Join("x", x.Shape.Skip(1));
        if (!ids && NpyData.IsImages(x))
        {
            var images = NpyData.Images(x, y, names, files[0]);
            var (train, test) = testFiles.X is null
                ? DatasetSpec.CarveTest(images)
                : (images, NpyData.Images(testFiles.X, testFiles.Y, names, files[2]));
            if (test.ImageSize != train.ImageSize || test.Channels != train.Channels)
                throw new InvalidDataException($"{files[2]}: test images are [{test.Channels}x{test.Height}x{test.Width}], the training images in {files[0]} [{train.Channels}x{train.Height}x{train.Width}]");
            return ImageRun(o, modelFile, $"npy uint8 images [{shape}], {classes} classes",
                new DatasetPair(train, test, Normalization.Compute(train), train.Channels == 3 ? Augmentation.PadCropFlip : Augmentation.None));
        }
        if (modelFile is null)
            throw new ArgumentException($"model {o.Model}: {files[0]} holds {x.DType} samples [{shape}], which a model file takes (the built-in models take images); give a .onnx model");
        var all = SampleDataset.FromNpy(x, y, ids, names, files[0]);
        if (ModelCatalog.SampleMismatch(modelFile, o.Model, all.SampleShape) is { } mismatch)
            throw new ArgumentException($"{files[0]}: {mismatch}");
        var (trainAll, testSet) = testFiles.X is null
            ? DatasetSpec.CarveTest(all)
            : (all, SampleDataset.FromNpy(testFiles.X, testFiles.Y, ids, names, files[2]));
        if (!trainAll.SampleShape.SequenceEqual(testSet.SampleShape))
            throw new InvalidDataException($"{files[2]}: test samples are [{string.Join("x", testSet.SampleShape)}], the training samples in {files[0]} [{shape}]");
        var (trainSet, validation) = TrainAndValidation(o, trainAll);
        return new RunData($"npy {(ids ? "token ids" : "float samples")} [{shape}], {classes} classes", trainSet, validation, testSet, null, null, null,
            (runner, policy, options) => new Trainer(runner, trainSet, validation, policy, options, testSet))
        {
            Input = $"input [{shape}] {(ids ? "token ids" : "float samples")} as stored (fed as they are)",
        };
    }
}
