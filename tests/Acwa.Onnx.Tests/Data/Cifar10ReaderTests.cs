using Acwa.Onnx.Data;

namespace Acwa.Onnx.Tests.Data;

public class Cifar10ReaderTests
{
    private static (byte[] Labels, byte[] Pixels) Write(string dir, string name, int n, int seed)
    {
        var labels = DataFiles.Bytes(n, seed).Select(b => (byte)(b % 10)).ToArray();
        var pixels = DataFiles.Bytes(n * 3072, seed + 100);
        File.WriteAllBytes(Path.Combine(dir, name), DataFiles.CifarBatch(labels, pixels));
        return (labels, pixels);
    }

    [Fact]
    public void RoundTripsTrainAndTestInOfficialSubfolder()
    {
        using var tmp = new TempDir();
        var dir = Directory.CreateDirectory(tmp.File("cifar-10-batches-bin")).FullName;
        var expected = Enumerable.Range(1, 5).Select(i => Write(dir, $"data_batch_{i}.bin", i, i)).ToArray();
        var test = Write(dir, "test_batch.bin", 4, 50);

        var train = Cifar10Reader.LoadTrain(tmp.Path);
        Assert.Equal(15, train.Count);
        Assert.Equal((3, 32, 32), (train.Channels, train.Height, train.Width));
        Assert.Equal(expected.SelectMany(e => e.Pixels).ToArray(), train.Pixels.ToArray());
        Assert.Equal(expected.SelectMany(e => e.Labels).Select(b => (int)b).ToArray(), train.Labels.ToArray());
        Assert.Equal("airplane", train.ClassNames[0]);

        var t = Cifar10Reader.LoadTest(dir);
        Assert.Equal(test.Pixels, t.Pixels.ToArray());
        // record 2, green plane, row 5, column 7 sits at 1 + 1024 + 5*32 + 7 inside the record
        Assert.Equal(test.Pixels[2 * 3072 + 1024 + 5 * 32 + 7], t.Image(2)[1024 + 5 * 32 + 7]);
    }

    [Fact]
    public void ClassNamesComeFromBatchesMeta()
    {
        using var tmp = new TempDir();
        Write(tmp.Path, "test_batch.bin", 2, 1);
        File.WriteAllText(tmp.File("batches.meta.txt"), "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n\n");
        var t = Cifar10Reader.LoadTest(tmp.Path);
        Assert.Equal("nine", t.ClassNames[9]);
        Assert.Equal(10, t.ClassCount);
    }

    [Fact]
    public void TruncatedBatchNamesFileAndRecord()
    {
        using var tmp = new TempDir();
        var p = tmp.File("test_batch.bin");
        File.WriteAllBytes(p, DataFiles.CifarBatch([1, 2, 3], DataFiles.Bytes(3 * 3072, 1))[..(2 * 3073 + 100)]);
        var e = Assert.Throws<InvalidDataException>(() => Cifar10Reader.LoadTest(tmp.Path));
        Assert.Contains(p, e.Message);
        Assert.Contains("record 2 is incomplete", e.Message);
    }

    [Fact]
    public void LabelOutOfRangeNamesFileAndRecord()
    {
        using var tmp = new TempDir();
        var p = tmp.File("test_batch.bin");
        File.WriteAllBytes(p, DataFiles.CifarBatch([1, 2, 10, 3], new byte[4 * 3072]));
        var e = Assert.Throws<InvalidDataException>(() => Cifar10Reader.LoadTest(tmp.Path));
        Assert.Contains(p, e.Message);
        Assert.Contains("record 2 has label 10", e.Message);
    }

    [Fact]
    public void MissingBatchesAreNamed()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<DirectoryNotFoundException>(() => Cifar10Reader.LoadTrain(tmp.Path));
        Assert.Contains("data_batch_1.bin", e.Message);
        Write(tmp.Path, "data_batch_1.bin", 2, 1);
        var f = Assert.Throws<FileNotFoundException>(() => Cifar10Reader.LoadTrain(tmp.Path));
        Assert.Contains("data_batch_2.bin", f.Message);
    }
}
