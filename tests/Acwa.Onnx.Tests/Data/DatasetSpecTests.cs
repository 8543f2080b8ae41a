using Acwa.Onnx.Data;

namespace Acwa.Onnx.Tests.Data;

public class DatasetSpecTests
{
    [Theory]
    [InlineData("fashion-mnist", DatasetKind.FashionMnist, new string[0])]
    [InlineData("Fashion-MNIST:/tmp/fm", DatasetKind.FashionMnist, new[] { "/tmp/fm" })]
    [InlineData("cifar10:/data/c", DatasetKind.Cifar10, new[] { "/data/c" })]
    [InlineData("isic2018:/data/isic", DatasetKind.Isic2018, new[] { "/data/isic" })]
    [InlineData("idx:a,b", DatasetKind.Idx, new[] { "a", "b" })]
    [InlineData("idx:a, b,c,d", DatasetKind.Idx, new[] { "a", "b", "c", "d" })]
    public void ParsesTheDocumentedForms(string text, DatasetKind kind, string[] paths)
    {
        var s = DatasetSpec.Parse(text);
        Assert.Equal(kind, s.Kind);
        Assert.Equal(paths, s.Paths);
    }

    [Theory]
    [InlineData("mnist", "unknown dataset")]
    [InlineData("cifar10", "needs a folder")]
    [InlineData("isic2018:", "nothing after ':'")]
    [InlineData("idx:a,b,c", "2 or 4")]
    [InlineData("idx:a", "2 or 4")]
    public void BadSpecsAreExplained(string text, string message)
    {
        var e = Assert.Throws<FormatException>(() => DatasetSpec.Parse(text));
        Assert.Contains(message, e.Message);
        Assert.Contains("cifar10:DIR", e.Message);
    }

    [Fact]
    public void IdxWithoutTestFilesCarvesAStratifiedTestSplit()
    {
        using var tmp = new TempDir();
        int n = 50;
        var labels = Enumerable.Range(0, n).Select(i => (byte)(i < 40 ? i % 2 : 2)).ToArray();   // 20, 20, 10
        var pixels = DataFiles.Bytes(n * 9, 1);
        File.WriteAllBytes(tmp.File("i"), DataFiles.Gzip(DataFiles.IdxImages(pixels, n, 3, 3)));
        File.WriteAllBytes(tmp.File("l"), DataFiles.IdxLabels(labels));
        var pair = DatasetSpec.Parse($"idx:{tmp.File("i")},{tmp.File("l")}").Load();
        Assert.Equal(new[] { "0", "1", "2" }, pair.Train.ClassNames);
        Assert.Equal(new[] { 16, 16, 8 }, pair.Train.ClassCounts());
        Assert.Equal(new[] { 4, 4, 2 }, pair.Test.ClassCounts());
        Assert.Equal(Augmentation.None, pair.Augmentation);
        Assert.Equal(1, pair.Normalization.Channels);
        // The carved split does not depend on anything but the files.
        var again = DatasetSpec.Parse($"idx:{tmp.File("i")},{tmp.File("l")}").Load();
        Assert.Equal(pair.Test.Pixels.ToArray(), again.Test.Pixels.ToArray());
    }

    [Fact]
    public void IdxWithTestFilesUsesThem()
    {
        using var tmp = new TempDir();
        File.WriteAllBytes(tmp.File("i"), DataFiles.IdxImages(new byte[4 * 4], 4, 2, 2));
        File.WriteAllBytes(tmp.File("l"), DataFiles.IdxLabels([0, 1, 0, 1]));
        File.WriteAllBytes(tmp.File("ti"), DataFiles.IdxImages(new byte[2 * 4], 2, 2, 2));
        File.WriteAllBytes(tmp.File("tl"), DataFiles.IdxLabels([3, 1]));
        var pair = DatasetSpec.Parse($"idx:{tmp.File("i")},{tmp.File("l")},{tmp.File("ti")},{tmp.File("tl")}").Load();
        Assert.Equal(4, pair.Train.Count);
        Assert.Equal(2, pair.Test.Count);
        Assert.Equal(4, pair.Train.ClassCount);   // max label over all label files
    }

    [Fact]
    public void Cifar10SpecLoadsBothSplitsWithDefaults()
    {
        using var tmp = new TempDir();
        for (int i = 1; i <= 5; i++) File.WriteAllBytes(tmp.File($"data_batch_{i}.bin"), DataFiles.CifarBatch([(byte)i], new byte[3072]));
        File.WriteAllBytes(tmp.File("test_batch.bin"), DataFiles.CifarBatch([0, 9], new byte[2 * 3072]));
        var pair = DatasetSpec.Parse($"cifar10:{tmp.Path}").Load();
        Assert.Equal(5, pair.Train.Count);
        Assert.Equal(2, pair.Test.Count);
        Assert.Same(Normalization.Cifar10, pair.Normalization);
        Assert.Equal(Augmentation.PadCropFlip, pair.Augmentation);
    }

    [Fact]
    public void IsicSpecWithoutTestFilesSplitsTrainingData()
    {
        using var tmp = new TempDir();
        var input = Directory.CreateDirectory(tmp.File(Isic2018Reader.TrainingImagesName)).FullName;
        var lines = new List<string> { "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC" };
        for (int i = 0; i < 10; i++)
        {
            int c = i < 6 ? 1 : 0;
            lines.Add($"ISIC_{i},{string.Join(",", Enumerable.Range(0, 7).Select(k => k == c ? "1.0" : "0.0"))}");
            DataFiles.Jpeg(Path.Combine(input, $"ISIC_{i}.jpg"), 16, 12, new SkiaSharp.SKColor((byte)(i * 20), 100, 50));
        }
        File.WriteAllLines(tmp.File(Isic2018Reader.TrainingCsvName), lines);
        var pair = DatasetSpec.Parse($"isic2018:{tmp.Path}").Load(imageSize: 8, cacheDirectory: tmp.File("cache"));
        Assert.Equal(new[] { 3, 5, 0, 0, 0, 0, 0 }, pair.Train.ClassCounts());
        Assert.Equal(new[] { 1, 1, 0, 0, 0, 0, 0 }, pair.Test.ClassCounts());
        Assert.Equal((3, 8, 8), (pair.Train.Channels, pair.Train.Height, pair.Train.Width));
        Assert.Equal(3, pair.Normalization.Channels);
    }

    [Fact]
    public void IsicSpecUsesOfficialTestFilesWhenPresent()
    {
        using var tmp = new TempDir();
        void Split(string csvName, string folder, int n)
        {
            var dir = Directory.CreateDirectory(tmp.File(folder)).FullName;
            var lines = new List<string> { "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC" };
            for (int i = 0; i < n; i++)
            {
                lines.Add($"{folder}_{i},{string.Join(",", Enumerable.Range(0, 7).Select(k => k == i % 7 ? "1.0" : "0.0"))}");
                DataFiles.Jpeg(Path.Combine(dir, $"{folder}_{i}.jpg"), 12, 12, SkiaSharp.SKColors.Coral);
            }
            File.WriteAllLines(tmp.File(csvName), lines);
        }
        Split(Isic2018Reader.TrainingCsvName, Isic2018Reader.TrainingImagesName, 9);
        Split(Isic2018Reader.TestCsvName, Isic2018Reader.TestImagesName, 3);
        var pair = DatasetSpec.Parse($"isic2018:{tmp.Path}").Load(imageSize: 4, cacheDirectory: tmp.File("cache"));
        Assert.Equal(9, pair.Train.Count);
        Assert.Equal(3, pair.Test.Count);
        Assert.Equal(new[] { 1, 1, 1, 0, 0, 0, 0 }, pair.Test.ClassCounts());
    }
}
