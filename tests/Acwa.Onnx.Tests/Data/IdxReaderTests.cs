using Acwa.Onnx.Data;

namespace Acwa.Onnx.Tests.Data;

public class IdxReaderTests
{
    private static readonly string[] Names3 = ["a", "b", "c"];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoundTripsRawAndGzip(bool gzip)
    {
        using var dir = new TempDir();
        var pixels = DataFiles.Bytes(5 * 3 * 4, 1);
        byte[] labels = [2, 0, 1, 1, 2];
        var ip = dir.File("img.idx3");   // no .gz suffix on purpose: detection is by magic
        var lp = dir.File("lab.idx1");
        var img = DataFiles.IdxImages(pixels, 5, 3, 4);
        var lab = DataFiles.IdxLabels(labels);
        File.WriteAllBytes(ip, gzip ? DataFiles.Gzip(img) : img);
        File.WriteAllBytes(lp, gzip ? DataFiles.Gzip(lab) : lab);

        var ds = IdxReader.Load(ip, lp, Names3);
        Assert.Equal(5, ds.Count);
        Assert.Equal((1, 3, 4), (ds.Channels, ds.Height, ds.Width));
        Assert.Equal(pixels, ds.Pixels.ToArray());
        Assert.Equal(new[] { 2, 0, 1, 1, 2 }, ds.Labels.ToArray());
        Assert.Equal(pixels.AsSpan(12, 12).ToArray(), ds.Image(1).ToArray());
        Assert.Equal(new[] { 1, 2, 2 }, ds.ClassCounts());
    }

    /// <summary>A stream that cannot seek and records whether it was closed.</summary>
    private sealed class ForwardOnly(byte[] data) : MemoryStream(data)
    {
        public bool Closed { get; private set; }
        public override bool CanSeek => false;
        protected override void Dispose(bool disposing) { Closed = true; base.Dispose(disposing); }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void ReadsStreamsRawOrGzipSeekableOrNotAndLeavesThemOpen(bool gzip, bool forwardOnly)
    {
        var pixels = DataFiles.Bytes(4 * 2 * 3, 5);
        var img = DataFiles.IdxImages(pixels, 4, 2, 3);
        var lab = DataFiles.IdxLabels([2, 1, 0, 2]);
        if (gzip) (img, lab) = (DataFiles.Gzip(img), DataFiles.Gzip(lab));
        MemoryStream ims = forwardOnly ? new ForwardOnly(img) : new MemoryStream(img), lbs = forwardOnly ? new ForwardOnly(lab) : new MemoryStream(lab);
        var ds = IdxReader.Load(ims, "mem images", lbs, "mem labels", Names3);
        Assert.Equal(pixels, ds.Pixels.ToArray());
        Assert.Equal(new[] { 2, 1, 0, 2 }, ds.Labels.ToArray());
        Assert.Equal((1, 2, 3), (ds.Channels, ds.Height, ds.Width));
        Assert.True(ims.CanRead && lbs.CanRead);   // the caller's streams stay open
        if (forwardOnly) Assert.False(((ForwardOnly)ims).Closed || ((ForwardOnly)lbs).Closed);

        // Errors name the stream by the name given, as they name a file by its path.
        var cut = DataFiles.IdxImages(pixels, 4, 2, 3)[..(16 + 2 * 6 + 1)];
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(new MemoryStream(gzip ? DataFiles.Gzip(cut) : cut), "embedded x.gz"));
        Assert.Contains("'embedded x.gz' is truncated", e.Message);
        Assert.Contains("image record 2", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TruncatedImagesNameFileAndRecord(bool gzip)
    {
        using var dir = new TempDir();
        var img = DataFiles.IdxImages(DataFiles.Bytes(5 * 12, 2), 5, 3, 4);
        var cut = img[..(16 + 2 * 12 + 7)]; // ends inside image record 2
        var ip = dir.File("img");
        File.WriteAllBytes(ip, gzip ? DataFiles.Gzip(cut) : cut);
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(ip));
        Assert.Contains(ip, e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("image record 2", e.Message);
    }

    [Fact]
    public void TruncatedHeaderAndLabels()
    {
        using var dir = new TempDir();
        var p = dir.File("lab");
        File.WriteAllBytes(p, DataFiles.IdxLabels([1, 2, 0])[..10]);
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(p));
        Assert.Contains(p, e.Message);
        Assert.Contains("label record 2", e.Message);

        File.WriteAllBytes(p, DataFiles.IdxImages([1, 2], 1, 1, 2)[..9]);
        e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(p));
        Assert.Contains("dimension 1", e.Message);
    }

    [Fact]
    public void HugeDeclaredCountInAShortRawFileFailsBeforeAllocating()
    {
        using var dir = new TempDir();
        var p = dir.File("img");
        var head = DataFiles.IdxImages([], 0, 28, 28);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(head.AsSpan(4), 2_000_000);
        File.WriteAllBytes(p, [.. head, .. new byte[784 * 3 + 5]]);
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(p));
        Assert.Contains("2000000 images", e.Message);
        Assert.Contains("image record 3", e.Message);
    }

    [Fact]
    public void WrongMagicIsNamed()
    {
        using var dir = new TempDir();
        var p = dir.File("swapped");
        File.WriteAllBytes(p, DataFiles.IdxLabels([0, 1]));
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(p));
        Assert.Contains(p, e.Message);
        Assert.Contains("0x00000801", e.Message);
        Assert.Contains("expected 0x00000803", e.Message);
    }

    [Fact]
    public void TrailingBytesAreAnError()
    {
        using var dir = new TempDir();
        var p = dir.File("lab");
        File.WriteAllBytes(p, [.. DataFiles.IdxLabels([0, 1]), 7]);
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(p));
        Assert.Contains("extra bytes", e.Message);
    }

    [Fact]
    public void LabelOutOfRangeNamesFileRecordAndValue()
    {
        using var dir = new TempDir();
        var ip = dir.File("img");
        var lp = dir.File("lab");
        File.WriteAllBytes(ip, DataFiles.IdxImages(new byte[4 * 4], 4, 2, 2));
        File.WriteAllBytes(lp, DataFiles.IdxLabels([0, 2, 3, 1]));
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Load(ip, lp, Names3));
        Assert.Contains(lp, e.Message);
        Assert.Contains("record 2 has label 3", e.Message);
        Assert.Contains("3 classes", e.Message);
    }

    [Fact]
    public void CountMismatchIsNamed()
    {
        using var dir = new TempDir();
        var ip = dir.File("img");
        var lp = dir.File("lab");
        File.WriteAllBytes(ip, DataFiles.IdxImages(new byte[3 * 4], 3, 2, 2));
        File.WriteAllBytes(lp, DataFiles.IdxLabels([0, 1]));
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Load(ip, lp, Names3));
        Assert.Contains("2 labels", e.Message);
        Assert.Contains("3 images", e.Message);
    }

    [Fact]
    public void MissingFashionMnistFolderSaysHowToInstall()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(true, dir.Path));
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains("train-images-idx3-ubyte.gz", e.Message);
        Assert.False(FashionMnist.IsAvailable(dir.Path));
    }

    [Fact]
    public void FashionMnistLoadsFromAnyFolderWithTheOfficialNames()
    {
        using var dir = new TempDir();
        var pixels = DataFiles.Bytes(3 * 28 * 28, 3);
        foreach (var (img, lab) in new[] { FashionMnist.TrainFiles, FashionMnist.TestFiles })
        {
            File.WriteAllBytes(dir.File(img), DataFiles.Gzip(DataFiles.IdxImages(pixels, 3, 28, 28)));
            File.WriteAllBytes(dir.File(lab), DataFiles.Gzip(DataFiles.IdxLabels([9, 0, 5])));
        }
        Assert.True(FashionMnist.IsAvailable(dir.Path));
        var test = FashionMnist.Load(false, dir.Path);
        Assert.Equal(pixels, test.Pixels.ToArray());
        Assert.Equal("Ankle boot", test.ClassNames[test.Label(0)]);
        Assert.Equal(10, test.ClassCount);
    }
}
