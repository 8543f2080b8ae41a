using Acwa.Onnx.Data;
using SkiaSharp;
using Acwa.Onnx.IO;

namespace Acwa.Onnx.Tests.Data;

public class Isic2018ReaderTests
{
    private const string Header = "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC";

    private static readonly SKColor[] Colours =
        [new(220, 40, 30), new(20, 200, 60), new(30, 50, 210), new(240, 240, 20), new(128, 128, 128)];

    /// <summary>Writes the official layout: CSV inside its zip folder, JPEGs in the input folder. Returns expected labels.</summary>
    private static int[] WriteOfficial(string dir, int n = 5)
    {
        var gt = Directory.CreateDirectory(Path.Combine(dir, "ISIC2018_Task3_Training_GroundTruth")).FullName;
        var input = Directory.CreateDirectory(Path.Combine(dir, Isic2018Reader.TrainingImagesName)).FullName;
        var lines = new List<string> { Header };
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = (i * 3) % 7;
            var oneHot = Enumerable.Range(0, 7).Select(c => c == labels[i] ? "1.0" : "0.0");
            lines.Add($"ISIC_{i:0000000},{string.Join(",", oneHot)}");
            DataFiles.Jpeg(Path.Combine(input, $"ISIC_{i:0000000}.jpg"), 60, 45, Colours[i % Colours.Length]);
        }
        File.WriteAllText(Path.Combine(gt, Isic2018Reader.TrainingCsvName), string.Join("\n", lines) + "\n");
        return labels;
    }

    [Fact]
    public void DecodesResizesAndKeepsRowOrder()
    {
        using var tmp = new TempDir();
        var labels = WriteOfficial(tmp.Path);
        var ds = Isic2018Reader.LoadTraining(tmp.Path, size: 8, cacheDirectory: tmp.File("cache"));
        Assert.Equal(5, ds.Count);
        Assert.Equal((3, 8, 8), (ds.Channels, ds.Height, ds.Width));
        Assert.Equal(labels, ds.Labels.ToArray());
        Assert.Equal(Isic2018Reader.ClassNames, ds.ClassNames);
        for (int i = 0; i < 5; i++)
        {
            var img = ds.Image(i);
            var col = Colours[i];
            // R plane, then G, then B; a flat JPEG decodes to its colour within a few levels.
            foreach (var (plane, want) in new[] { (0, col.Red), (1, col.Green), (2, col.Blue) })
                for (int p = 0; p < 64; p++)
                    Assert.InRange(img[plane * 64 + p], want - 6, want + 6);
        }
    }

    [Fact]
    public void ResizeKeepsOrientationAndChannelOrder()
    {
        // Quadrants: top-left red, top-right green, bottom-left blue, bottom-right white; 96x64 -> 8x8.
        using var tmp = new TempDir();
        using (var bmp = new SKBitmap(new SKImageInfo(96, 64, SKColorType.Rgba8888, SKAlphaType.Premul)))
        {
            using (var canvas = new SKCanvas(bmp))
            {
                canvas.Clear(SKColors.White);
                using var p = new SKPaint();
                foreach (var (rect, col) in new[] { (new SKRect(0, 0, 48, 32), new SKColor(255, 0, 0)), (new SKRect(48, 0, 96, 32), new SKColor(0, 255, 0)), (new SKRect(0, 32, 48, 64), new SKColor(0, 0, 255)) })
                {
                    p.Color = col;
                    canvas.DrawRect(rect, p);
                }
            }
            using var img = SKImage.FromBitmap(bmp);
            using var data = img.Encode(SKEncodedImageFormat.Jpeg, 98);
            File.WriteAllBytes(tmp.File("q.jpg"), data.ToArray());
        }
        File.WriteAllText(tmp.File("gt.csv"), $"{Header}\nq,0,0,0,0,0,1,0\n");
        var ds = Isic2018Reader.Load(tmp.File("gt.csv"), tmp.Path, 8, 8, tmp.File("c"));
        var im = ds.Image(0).ToArray();
        (int R, int G, int B) At(int y, int x) => (im[y * 8 + x], im[64 + y * 8 + x], im[128 + y * 8 + x]);
        static void Near((int, int, int) got, (int, int, int) want)
        {
            Assert.InRange(got.Item1, want.Item1 - 20, want.Item1 + 20);
            Assert.InRange(got.Item2, want.Item2 - 20, want.Item2 + 20);
            Assert.InRange(got.Item3, want.Item3 - 20, want.Item3 + 20);
        }
        Near(At(1, 1), (255, 0, 0));
        Near(At(1, 6), (0, 255, 0));
        Near(At(6, 1), (0, 0, 255));
        Near(At(6, 6), (255, 255, 255));
    }

    [Fact]
    public void SecondLoadReadsTheCacheAndChangesInvalidateIt()
    {
        using var tmp = new TempDir();
        WriteOfficial(tmp.Path);
        var (csv, images) = Isic2018Reader.ResolveTraining(tmp.Path);

        var first = Isic2018Reader.Load(csv, images, 8, 8, null, out int d1);
        Assert.Equal(5, d1);
        var cacheDir = Path.Combine(Path.GetDirectoryName(csv)!, ".acwa-cache");
        var cacheFile = Assert.Single(Directory.GetFiles(cacheDir, "isic2018-8x8-*.acwt"));
        var (tensors, meta) = TensorFile.Load(cacheFile);   // a real, checksummed tensor file
        Assert.Equal(5 * 3 * 64, (long)meta["bytes"]!);

        var second = Isic2018Reader.Load(csv, images, 8, 8, null, out int d2);
        Assert.Equal(0, d2);
        Assert.Equal(first.Pixels.ToArray(), second.Pixels.ToArray());
        Assert.Equal(first.Labels.ToArray(), second.Labels.ToArray());

        // Another size is another cache entry.
        Isic2018Reader.Load(csv, images, 6, 4, null, out int d3);
        Assert.Equal(5, d3);

        // A changed image (new mtime) invalidates the entry.
        File.SetLastWriteTimeUtc(Path.Combine(images, "ISIC_0000003.jpg"), DateTime.UtcNow.AddMinutes(5));
        Isic2018Reader.Load(csv, images, 8, 8, null, out int d4);
        Assert.Equal(5, d4);
        Isic2018Reader.Load(csv, images, 8, 8, null, out int d5);
        Assert.Equal(0, d5);

        // A corrupt cache file is ignored and rebuilt.
        foreach (var f in Directory.GetFiles(cacheDir, "isic2018-8x8-*.acwt")) File.WriteAllBytes(f, [1, 2, 3]);
        var again = Isic2018Reader.Load(csv, images, 8, 8, null, out int d6);
        Assert.Equal(5, d6);
        Assert.Equal(first.Labels.ToArray(), again.Labels.ToArray());
    }

    [Fact]
    public void ToleratesFlatLayoutWithImagesFolder()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.File("images"));
        DataFiles.Jpeg(tmp.File("images/a.jpg"), 20, 20, Colours[0]);
        DataFiles.Jpeg(tmp.File("images/b.jpg"), 20, 20, Colours[1]);
        File.WriteAllText(tmp.File("labels.csv"), $"{Header}\r\na,0,0,0,0,0,0,1\r\nb,0,1,0,0,0,0,0\r\n");
        var (csv, images) = Isic2018Reader.ResolveTraining(tmp.Path);
        Assert.Equal(tmp.File("labels.csv"), csv);
        Assert.Equal(tmp.File("images"), images);
        var ds = Isic2018Reader.Load(csv, images, 4, 4, tmp.File("c"));
        Assert.Equal(new[] { 6, 1 }, ds.Labels.ToArray());
    }

    [Fact]
    public void NoCsvIsExplained()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => Isic2018Reader.ResolveTraining(tmp.Path));
        Assert.Contains(Isic2018Reader.TrainingCsvName, e.Message);
    }

    public static TheoryData<string, string> BadRows => new()
    {
        { "x,0.0,0.0,0.0,0.0,0.0,0.0,0.0", "line 3 (x): no class column is 1 (all zeros)" },
        { "x,1.0,0.0,0.0,0.0,1.0,0.0,0.0", "line 3 (x): several classes are 1 (MEL, BKL)" },
        { "x,1.0,0.0,0.0,0.0,0.0,0.0", "line 3: 7 columns, the header has 8" },
        { "x,1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0", "line 3: 9 columns, the header has 8" },
        { "x,0.5,0.5,0.0,0.0,0.0,0.0,0.0", "line 3 (x): column MEL is '0.5', expected 0 or 1" },
        { "x,yes,0.0,0.0,0.0,0.0,0.0,0.0", "line 3 (x): column MEL is 'yes'" },
    };

    [Theory]
    [MemberData(nameof(BadRows))]
    public void BadCsvRowsNameFileAndLine(string row, string message)
    {
        using var tmp = new TempDir();
        DataFiles.Jpeg(tmp.File("ok.jpg"), 8, 8, Colours[0]);
        DataFiles.Jpeg(tmp.File("x.jpg"), 8, 8, Colours[1]);
        var csv = tmp.File("gt.csv");
        File.WriteAllText(csv, $"{Header}\nok,0.0,1.0,0.0,0.0,0.0,0.0,0.0\n{row}\n");
        var e = Assert.Throws<InvalidDataException>(() => Isic2018Reader.Load(csv, tmp.Path, 4, 4, tmp.File("c")));
        Assert.Contains(csv, e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void BadHeaderIsNamed()
    {
        using var tmp = new TempDir();
        var csv = tmp.File("gt.csv");
        File.WriteAllText(csv, "name,MEL\nx,1\n");
        var e = Assert.Throws<InvalidDataException>(() => Isic2018Reader.Load(csv, tmp.Path, 4, 4, tmp.File("c")));
        Assert.Contains("line 1", e.Message);
        Assert.Contains("header", e.Message);
    }

    [Fact]
    public void MissingImageNamesCsvLineAndImage()
    {
        using var tmp = new TempDir();
        DataFiles.Jpeg(tmp.File("ok.jpg"), 8, 8, Colours[0]);
        var csv = tmp.File("gt.csv");
        File.WriteAllText(csv, $"{Header}\nok,0,1,0,0,0,0,0\nISIC_0000042,0,0,1,0,0,0,0\n");
        var e = Assert.Throws<FileNotFoundException>(() => Isic2018Reader.Load(csv, tmp.Path, 4, 4, tmp.File("c")));
        Assert.Contains($"'{csv}' line 3", e.Message);
        Assert.Contains("ISIC_0000042", e.Message);
    }

    [Fact]
    public void CorruptJpegNamesFileAndLine()
    {
        using var tmp = new TempDir();
        DataFiles.Jpeg(tmp.File("ok.jpg"), 8, 8, Colours[0]);
        File.WriteAllBytes(tmp.File("bad.jpg"), DataFiles.Bytes(300, 5));
        var csv = tmp.File("gt.csv");
        File.WriteAllText(csv, $"{Header}\nok,0,1,0,0,0,0,0\nbad,0,0,1,0,0,0,0\n");
        var e = Assert.Throws<InvalidDataException>(() => Isic2018Reader.Load(csv, tmp.Path, 4, 4, tmp.File("c")));
        Assert.Contains("bad.jpg", e.Message);
        Assert.Contains("line 3", e.Message);
    }
}
