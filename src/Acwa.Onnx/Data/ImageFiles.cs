using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using SkiaSharp;
using Acwa.Onnx.IO;

namespace Acwa.Onnx.Data;

/// <summary>
/// Image files to an <c>[N, 3, H, W]</c> byte tensor: decode (SkiaSharp: JPEG, PNG, ...), RGB, resize (aspect ratio not
/// kept), and a decode cache in a <see cref="TensorFile"/> keyed by a listing and every file's size and modification
/// time, so a second load with unchanged files decodes nothing. Shared by the ISIC-2018 and image-folder readers.
/// </summary>
internal static class ImageFiles
{
    /// <summary>File extensions taken as images.</summary>
    public static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"];

    public static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>
    /// Decodes <paramref name="files"/> (in parallel) into one buffer of <c>count * 3 * height * width</c> bytes, or takes
    /// it from the cache <c>{cachePrefix}-WxH-KEY.acwt</c> in the first of <paramref name="cacheDirectories"/> that has
    /// it; writes the cache to the first writable one. <paramref name="describe"/> names file i in error messages.
    /// </summary>
    /// <exception cref="InvalidDataException">A file is not a decodable image (named via <paramref name="describe"/>).</exception>
    public static byte[] LoadPixels(FileInfo[] files, Func<int, string> describe, int width, int height, string cacheFormat, string cachePrefix,
        byte[] listing, IReadOnlyList<string> cacheDirectories, out int decoded)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"target size {width}x{height} must be positive");
        string key = CacheKey(cacheFormat, listing, files, width, height);
        string fileName = $"{cachePrefix}-{width}x{height}-{key[..16]}.acwt";
        foreach (var dir in cacheDirectories)
        {
            var cached = TryReadCache(Path.Combine(dir, fileName), cacheFormat, key, files.Length, width, height);
            if (cached is not null) { decoded = 0; return cached; }
        }
        var pixels = new byte[(long)files.Length * 3 * height * width];
        int imageBytes = 3 * height * width;
        try
        {
            Parallel.For(0, files.Length, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
                DecodeInto(files[i].FullName, describe(i), width, height, pixels.AsSpan(i * imageBytes, imageBytes)));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        decoded = files.Length;
        foreach (var dir in cacheDirectories)
            if (TryWriteCache(Path.Combine(dir, fileName), cacheFormat, key, pixels, files.Length, width, height)) break;
        return pixels;
    }

    /// <summary><c>.acwa-cache/</c> in <paramref name="folder"/>, then <c>$XDG_CACHE_HOME/acwa</c> (or <c>~/.cache/acwa</c>).</summary>
    public static string[] DefaultCacheDirectories(string folder)
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var user = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return [Path.Combine(Path.GetFullPath(folder), ".acwa-cache"), Path.Combine(user, "acwa")];
    }

    /// <summary>"a WxH grey PNG" / "a WxH colour JPEG" from the file's header (nothing decoded); null when SkiaSharp cannot read it.</summary>
    public static string? Describe(string file)
    {
        using var codec = SKCodec.Create(file);
        if (codec is null) return null;
        var info = codec.Info;
        string colour = info.ColorType is SKColorType.Gray8 or SKColorType.Alpha8 ? "grey" : "colour";
        return $"a {info.Width}x{info.Height} {colour} {codec.EncodedFormat.ToString().ToUpperInvariant()}";
    }

    private static void DecodeInto(string file, string what, int width, int height, Span<byte> target)
    {
        using var codec = SKCodec.Create(file) ?? throw new InvalidDataException($"{what} is not a decodable image");
        // JPEG can decode at 1/2, 1/4, 1/8 scale for almost free: take the smallest scale still at least the target size.
        var dims = codec.Info.Size;
        foreach (var scale in new[] { 0.125f, 0.25f, 0.5f })
        {
            var d = codec.GetScaledDimensions(scale);
            if (d.Width >= width && d.Height >= height) { dims = d; break; }
        }
        var info = new SKImageInfo(dims.Width, dims.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var full = SKBitmap.Decode(codec, info) ?? throw new InvalidDataException($"{what} could not be decoded");
        using var small = full.Resize(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul),
                              new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
            ?? throw new InvalidDataException($"{what} could not be resized to {width}x{height}");
        var src = small.GetPixelSpan();
        int rowBytes = small.RowBytes, plane = width * height;
        for (int y = 0; y < height; y++)
        {
            var row = src.Slice(y * rowBytes, width * 4);
            for (int x = 0; x < width; x++)
            {
                int o = y * width + x;
                target[o] = row[x * 4];
                target[plane + o] = row[x * 4 + 1];
                target[2 * plane + o] = row[x * 4 + 2];
            }
        }
    }

    private static string CacheKey(string format, byte[] listing, FileInfo[] files, int width, int height)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(Encoding.UTF8.GetBytes($"{format}\n{width}x{height}\n"));
        h.AppendData(SHA256.HashData(listing));
        foreach (var f in files)
            h.AppendData(Encoding.UTF8.GetBytes($"{f.Name}\t{f.Length}\t{f.LastWriteTimeUtc.Ticks}\n"));
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    private static byte[]? TryReadCache(string path, string format, string key, int count, int width, int height)
    {
        if (!File.Exists(path)) return null;
        try
        {
            var (tensors, meta) = TensorFile.Load(path);
            if ((string?)meta["format"] != format || (string?)meta["key"] != key) return null;
            long bytes = (long)count * 3 * width * height;
            var packed = tensors.SingleOrDefault(t => t.Name == "pixels_u8")?.Int64Data;
            if (packed is null || (long)meta["bytes"]! != bytes || packed.LongLength * 8 < bytes) return null;
            return MemoryMarshal.AsBytes(packed.AsSpan())[..(int)bytes].ToArray();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or InvalidOperationException or FormatException)
        {
            return null; // a broken cache is rebuilt, never fatal
        }
    }

    private static bool TryWriteCache(string path, string format, string key, byte[] pixels, int count, int width, int height)
    {
        try
        {
            // TensorFile holds fp32/int64; the bytes travel packed 8 to an int64 (zero padded) to keep the file 1 byte per pixel.
            var packed = new long[(pixels.LongLength + 7) / 8];
            pixels.AsSpan().CopyTo(MemoryMarshal.AsBytes(packed.AsSpan()));
            var meta = new JsonObject
            {
                ["format"] = format, ["key"] = key, ["count"] = count, ["channels"] = 3,
                ["height"] = height, ["width"] = width, ["bytes"] = pixels.LongLength,
            };
            TensorFile.Save(path, [HostTensor.OfInt64("pixels_u8", [packed.LongLength], packed)], meta);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
