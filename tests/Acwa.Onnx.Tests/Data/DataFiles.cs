using System.Buffers.Binary;
using System.IO.Compression;
using SkiaSharp;

namespace Acwa.Onnx.Tests.Data;

/// <summary>Writers of small files in the real formats, and a temp folder that cleans up.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("acwa-data").FullName;

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

internal static class DataFiles
{
    public static byte[] IdxImages(byte[] pixels, int n, int h, int w)
    {
        var b = new byte[16 + pixels.Length];
        BinaryPrimitives.WriteUInt32BigEndian(b, 0x00000803);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4), n);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(8), h);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(12), w);
        pixels.CopyTo(b, 16);
        return b;
    }

    public static byte[] IdxLabels(byte[] labels)
    {
        var b = new byte[8 + labels.Length];
        BinaryPrimitives.WriteUInt32BigEndian(b, 0x00000801);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4), labels.Length);
        labels.CopyTo(b, 8);
        return b;
    }

    public static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest)) gz.Write(raw);
        return ms.ToArray();
    }

    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] Bytes(int n, int seed)
    {
        var r = new Random(seed);
        var b = new byte[n];
        r.NextBytes(b);
        return b;
    }

    public static byte[] CifarBatch(byte[] labels, byte[] pixels)
    {
        var b = new byte[labels.Length * 3073];
        for (int i = 0; i < labels.Length; i++)
        {
            b[i * 3073] = labels[i];
            pixels.AsSpan(i * 3072, 3072).CopyTo(b.AsSpan(i * 3073 + 1));
        }
        return b;
    }

    /// <summary>Writes a JPEG of a flat colour (so decoding + resizing gives that colour back within JPEG error).</summary>
    public static void Jpeg(string path, int w, int h, SKColor colour, int quality = 95)
    {
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul));
        bmp.Erase(colour);
        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(SKEncodedImageFormat.Jpeg, quality);
        System.IO.File.WriteAllBytes(path, data.ToArray());
    }

    /// <summary>A dataset with <paramref name="perClass"/>[c] images of class c, each image filled with its own index (mod 256).</summary>
    public static Acwa.Onnx.Data.ImageDataset Synthetic(int[] perClass, int channels = 1, int h = 4, int w = 4, bool interleave = true)
    {
        var labels = new List<int>();
        if (interleave)
        {
            var left = (int[])perClass.Clone();
            while (left.Any(x => x > 0))
                for (int c = 0; c < left.Length; c++)
                    if (left[c] > 0) { labels.Add(c); left[c]--; }
        }
        else
            for (int c = 0; c < perClass.Length; c++) labels.AddRange(Enumerable.Repeat(c, perClass[c]));
        int size = channels * h * w;
        var pixels = new byte[labels.Count * size];
        for (int i = 0; i < labels.Count; i++) pixels.AsSpan(i * size, size).Fill((byte)i);
        var names = Enumerable.Range(0, perClass.Length).Select(c => $"c{c}").ToArray();
        return new Acwa.Onnx.Data.ImageDataset(pixels, labels.ToArray(), channels, h, w, names, "synthetic");
    }
}
