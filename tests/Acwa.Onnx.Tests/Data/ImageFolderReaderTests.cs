using Acwa.Cli.Training;
using Acwa.Onnx.Data;
using SkiaSharp;
using Acwa.Onnx.Models;
using Acwa.Onnx.Training.Runs;

namespace Acwa.Onnx.Tests.Data;

/// <summary><c>folder:DIR</c> datasets: one subfolder per class of real PNG files, with or without train/ and test/.</summary>
public sealed class ImageFolderReaderTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static readonly Dictionary<string, SKColor> Colours = new()
    {
        ["bird"] = new SKColor(200, 30, 10), ["cat"] = new SKColor(0, 120, 255), ["dog"] = new SKColor(40, 220, 90),
    };

    /// <summary>Writes <paramref name="perClass"/> solid-colour PNGs (12x10) per class under <paramref name="dir"/>.</summary>
    private static void WriteSplit(string dir, int[] perClass)
    {
        int k = 0;
        foreach (var (name, colour) in Colours)
        {
            Directory.CreateDirectory(Path.Combine(dir, name));
            for (int i = 0; i < perClass[k]; i++)
            {
                using var bmp = new SKBitmap(new SKImageInfo(12, 10, SKColorType.Rgba8888, SKAlphaType.Premul));
                bmp.Erase(colour);
                using var img = SKImage.FromBitmap(bmp);
                using var data = img.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(Path.Combine(dir, name, $"img{i:D2}.png"), data.ToArray());
            }
            k++;
        }
    }

    [Fact]
    public void TrainAndTestFoldersGiveLabelsByClassFolderAndExactPixels()
    {
        WriteSplit(_tmp.File("train"), [5, 3, 2]);
        WriteSplit(_tmp.File("test"), [2, 2, 2]);
        File.WriteAllText(Path.Combine(_tmp.File("train"), "cat", "notes.txt"), "not an image"); // ignored
        var pair = DatasetSpec.Parse($"folder:{_tmp.Path}").Load(imageSize: 8, cacheDirectory: _tmp.File("cache"));
        Assert.Equal(["bird", "cat", "dog"], pair.Train.ClassNames);
        Assert.Equal([5, 3, 2], pair.Train.ClassCounts());
        Assert.Equal([2, 2, 2], pair.Test.ClassCounts());
        Assert.Equal((3, 8, 8), (pair.Train.Channels, pair.Train.Height, pair.Train.Width));
        for (int i = 0; i < pair.Train.Count; i++)
        {
            var colour = Colours[pair.Train.ClassNames[pair.Train.Labels[i]]];
            var im = pair.Train.Image(i).ToArray();
            Assert.All(im[..64], v => Assert.Equal(colour.Red, v));
            Assert.All(im[64..128], v => Assert.Equal(colour.Green, v));
            Assert.All(im[128..], v => Assert.Equal(colour.Blue, v));
        }

        // A second load decodes nothing and gives the same bytes.
        var again = ImageFolderReader.Load(_tmp.File("train"), 8, _tmp.File("cache"), null, out int decoded);
        Assert.Equal(0, decoded);
        Assert.Equal(pair.Train.Image(7).ToArray(), again.Image(7).ToArray());
    }

    [Fact]
    public void WithoutATrainFolderATestSplitIsCarvedOut()
    {
        WriteSplit(_tmp.Path, [10, 10, 10]);
        var pair = DatasetSpec.Parse($"folder:{_tmp.Path}").Load(imageSize: 6, cacheDirectory: _tmp.File(".cache"));
        Assert.Equal(30, pair.Train.Count + pair.Test.Count);
        Assert.True(pair.Test.Count > 0 && pair.Test.ClassCounts().All(c => c > 0));
        Assert.Equal(["bird", "cat", "dog"], pair.Test.ClassNames); // the hidden .cache folder is not a class
    }

    [Fact]
    public void BadFoldersAreNamedInTheError()
    {
        WriteSplit(_tmp.File("train"), [2, 2, 2]);
        Directory.CreateDirectory(_tmp.File("train/empty"));
        var e1 = Assert.Throws<InvalidDataException>(() => ImageFolderReader.Load(_tmp.File("train"), 8, _tmp.File("c")));
        Assert.Contains("empty' has no images", e1.Message);
        Directory.Delete(_tmp.File("train/empty"));

        WriteSplit(_tmp.File("test"), [1, 1, 1]);
        Directory.Move(_tmp.File("test/dog"), _tmp.File("test/wolf"));
        var e2 = Assert.Throws<InvalidDataException>(() => DatasetSpec.Parse($"folder:{_tmp.Path}").Load(8, _tmp.File("c")));
        Assert.Contains("bird, cat, wolf", e2.Message);
        Assert.Contains("bird, cat, dog", e2.Message);

        File.WriteAllBytes(_tmp.File("train/cat/broken.png"), [1, 2, 3, 4]);
        var e3 = Assert.Throws<InvalidDataException>(() => ImageFolderReader.Load(_tmp.File("train"), 8, _tmp.File("c")));
        Assert.Contains("broken.png", e3.Message);

        var e4 = Assert.Throws<InvalidDataException>(() => ImageFolderReader.Load(_tmp.File("train/cat"), 8, _tmp.File("c")));
        Assert.Contains("class folder", e4.Message);
        Assert.Throws<FormatException>(() => DatasetSpec.Parse("folder"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AnExportedModelIsFineTunedOnAFolderWithItsStemFrozen(bool frozenBn)
    {
        // The MobileNetV3-style fixture exported by torch (input [N, 3, 8, 8], 3 classes): images resized to its declared
        // 8x8 without being told, the stem (conv1, bn1) frozen by pattern, everything else trained. With --frozen-bn the
        // stem's batch norm also keeps its running statistics (inference mode); without, it trains on batch statistics.
        WriteSplit(_tmp.File("data/train"), [12, 6, 4]);
        WriteSplit(_tmp.File("data/test"), [3, 3, 3]);
        var fixture = Models.ModelTestUtil.Fixture("tiny_mobilenet.onnx");
        var o = new TrainingRunOptions { Dataset = $"folder:{_tmp.File("data")}", Imbalance = "none", Model = fixture, Epochs = 1, Batch = 8,
            OutDir = _tmp.File("ft"), Threads = 1, CacheDir = _tmp.File("cache"), Frozen = ["conv1.*", "bn1.weight", "bn1.bias"],
            FrozenBatchNorm = frozenBn };
        var outcome = TrainRun.Run(o, new StringWriter());
        Assert.Equal(9, outcome.TestConfusion!.Counts.ToArray().Sum());
        var before = Acwa.Onnx.Graphs.OnnxModel.Load(fixture).Graph.Initializer.ToDictionary(t => t.Name, Acwa.Onnx.Graphs.Tensors.ToFloats);
        var after = Acwa.Onnx.Graphs.OnnxModel.Load(Path.Combine(o.OutDir!, "model.onnx")).Graph.Initializer.ToDictionary(t => t.Name, Acwa.Onnx.Graphs.Tensors.ToFloats);
        foreach (var name in new[] { "conv1.weight", "bn1.weight", "bn1.bias" }) Assert.Equal(before[name], after[name]);
        foreach (var name in new[] { "dw.weight", "fc.weight", "act.weight" }) Assert.NotEqual(before[name], after[name]);
        foreach (var name in new[] { "bn1.running_mean", "bn1.running_var" })
            if (frozenBn) Assert.Equal(before[name], after[name]); else Assert.NotEqual(before[name], after[name]);
        Assert.NotEqual(before["bn2.running_mean"], after["bn2.running_mean"]); // bn2's scale and bias train: batch statistics
        Assert.Equal(frozenBn, System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(o.OutDir!, "config.json")))!["frozen_bn"]!.GetValue<bool>());
    }

    [Fact]
    public void AOneChannelModelGetsTheFolderImagesAsGreyLuma()
    {
        // The exported tiny CNN takes [N, 1, 8, 8] and has 3 classes: the colour PNGs become grey (BT.601 luma), for
        // training and for `acwa eval` alike.
        WriteSplit(_tmp.File("data/train"), [8, 6, 4]);
        WriteSplit(_tmp.File("data/test"), [2, 2, 2]);
        var pair = DatasetSpec.Parse($"folder:{_tmp.File("data")}").Load(8, _tmp.File("cache"), grey: true);
        Assert.Equal(1, pair.Train.Channels);
        Assert.Equal(1, pair.Test.Channels);
        // bird (200, 30, 10) -> (299*200 + 587*30 + 114*10 + 500) / 1000 = 79 (78.55 rounded)
        Assert.Equal(79, pair.Train.Pixels[0]);
        Assert.Single(pair.Normalization.Mean);
        var fixture = Models.ModelTestUtil.Fixture("tiny_cnn.onnx");
        var o = new TrainingRunOptions { Dataset = $"folder:{_tmp.File("data")}", Imbalance = "none", Model = fixture, Epochs = 1, Batch = 6,
            OutDir = _tmp.File("grey"), Threads = 1, CacheDir = _tmp.File("cache") };
        var outcome = TrainRun.Run(o, new StringWriter());
        Assert.Equal(6, outcome.TestConfusion!.Counts.ToArray().Sum());
        var eval = Acwa.Cli.Commands.EvalCommand.Compute(new Acwa.Cli.Commands.EvalOptions(Path.Combine(o.OutDir!, "model.onnx"), o.Dataset, Batch: 4), out var summary);
        Assert.Equal(outcome.TestConfusion.Counts.ToArray(), eval.Matrix.Counts.ToArray());
        Assert.Contains("grey", summary);
    }

    [Fact]
    public void AModelThatDoesNotFitTheDataIsRefusedWithTheReason()
    {
        var fixture = Models.ModelTestUtil.Fixture("tiny_mobilenet.onnx"); // [N, 3, 8, 8] -> 3 classes
        WriteSplit(_tmp.File("two"), [4, 4, 0]);
        Directory.Delete(_tmp.File("two/dog"));
        var classes = Assert.Throws<ArgumentException>(() => TrainRun.Run(new TrainingRunOptions { Dataset = $"folder:{_tmp.File("two")}",
            Imbalance = "none", Model = fixture, Epochs = 1, OutDir = _tmp.File("r1"), CacheDir = _tmp.File("c") }, new StringWriter()));
        Assert.Contains("2 classes were asked for", classes.Message);
        Assert.Contains("has 3", classes.Message);
        var size = Assert.Throws<ArgumentException>(() => TrainRun.Run(new TrainingRunOptions { Dataset = $"folder:{_tmp.File("two")}",
            Imbalance = "none", Model = fixture, Epochs = 1, OutDir = _tmp.File("r2"), CacheDir = _tmp.File("c"), ImageSize = 12 }, new StringWriter()));
        Assert.Contains("[N, 3, 8, 8], the data is [N, 3, 12, 12]", size.Message);
    }

    [Fact]
    public void TrainCommandRunsOnAnImageFolder()
    {
        WriteSplit(_tmp.File("data/train"), [12, 6, 4]);
        WriteSplit(_tmp.File("data/test"), [3, 3, 3]);
        var o = new TrainingRunOptions { Dataset = $"folder:{_tmp.File("data")}", Imbalance = "none", Model = "cnn", Epochs = 2, Batch = 8,
            OutDir = _tmp.File("run"), Threads = 1, CacheDir = _tmp.File("cache"), ImageSize = 16 };
        var outcome = TrainRun.Run(o, new StringWriter());
        Assert.Equal(2, outcome.History.Count);
        Assert.NotNull(outcome.Test);
        Assert.Equal(9, outcome.TestConfusion!.Counts.ToArray().Sum());
        // The exported model declares its 16x16 input, so `acwa eval` resizes the folder's images to 16 by itself and
        // agrees with the run's own test evaluation.
        var model = Path.Combine(o.OutDir!, "model.onnx");
        Assert.Equal(16, ModelCatalog.DeclaredImageSide(ModelCatalog.TryLoadFile(model)));
        var eval = Acwa.Cli.Commands.EvalCommand.Compute(new Acwa.Cli.Commands.EvalOptions(model, o.Dataset, Batch: 5), out _);
        Assert.Equal(outcome.TestConfusion.Counts.ToArray(), eval.Matrix.Counts.ToArray());
    }
}
