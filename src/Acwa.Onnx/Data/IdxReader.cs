using System.Buffers.Binary;
using System.IO.Compression;

namespace Acwa.Onnx.Data;

/// <summary>
/// Reads IDX files (the MNIST / Fashion-MNIST format), raw or gzip-compressed (detected by the gzip magic
/// <c>1f 8b</c>, not by the file name). Header, big-endian: two zero bytes, the element type (<c>0x08</c> = unsigned
/// byte, the only one supported), the number of dimensions, then one 32-bit size per dimension. Images are
/// <c>idx3</c> (magic <c>0x00000803</c>, dims N, H, W); labels are <c>idx1</c> (magic <c>0x00000801</c>, dim N).
/// Every error names the file and, for short data, the first incomplete record.
/// </summary>
public static class IdxReader
{
    /// <summary>Magic number of an idx3 unsigned-byte file (images).</summary>
    public const uint ImagesMagic = 0x00000803;

    /// <summary>Magic number of an idx1 unsigned-byte file (labels).</summary>
    public const uint LabelsMagic = 0x00000801;

    /// <summary>
    /// Reads an idx3 image file. Returns the pixels as <c>[N, H, W]</c> bytes (which is <c>[N, 1, H, W]</c>).
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">Wrong magic, zero-sized dimensions, truncated data or trailing bytes.</exception>
    public static (byte[] Pixels, int Count, int Height, int Width) ReadImages(string path)
    {
        using var stream = Open(path);
        return ReadImagesCore(stream, path);
    }

    /// <summary>
    /// Reads idx3 images from <paramref name="stream"/> (raw or gzip, from its current position to its end; left open),
    /// e.g. an embedded resource. <paramref name="name"/> stands for the file in error messages.
    /// </summary>
    /// <exception cref="InvalidDataException">As <see cref="ReadImages(string)"/>.</exception>
    public static (byte[] Pixels, int Count, int Height, int Width) ReadImages(Stream stream, string name)
    {
        using var s = Decompressed(stream, name);
        return ReadImagesCore(s, name);
    }

    /// <summary>Reads an idx1 label file: one byte per record.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">Wrong magic, truncated data or trailing bytes.</exception>
    public static byte[] ReadLabels(string path)
    {
        using var stream = Open(path);
        return ReadLabelsCore(stream, path);
    }

    /// <summary>Reads idx1 labels from <paramref name="stream"/> (raw or gzip, to its end; left open); <paramref name="name"/> names it in errors.</summary>
    /// <exception cref="InvalidDataException">As <see cref="ReadLabels(string)"/>.</exception>
    public static byte[] ReadLabels(Stream stream, string name)
    {
        using var s = Decompressed(stream, name);
        return ReadLabelsCore(s, name);
    }

    /// <summary>
    /// Reads an image file and its label file into a single-channel dataset, checking that the counts match and every
    /// label is below the number of <paramref name="classNames"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">Any format error, a count mismatch, or a label out of range (names file and record).</exception>
    public static ImageDataset Load(string imagesPath, string labelsPath, IReadOnlyList<string> classNames) =>
        Combine(ReadImages(imagesPath), imagesPath, ReadLabels(labelsPath), labelsPath, classNames);

    /// <summary>As <see cref="Load(string, string, IReadOnlyList{string})"/>, from two streams (left open) named <paramref name="imagesName"/> and <paramref name="labelsName"/> in errors.</summary>
    public static ImageDataset Load(Stream images, string imagesName, Stream labels, string labelsName, IReadOnlyList<string> classNames) =>
        Combine(ReadImages(images, imagesName), imagesName, ReadLabels(labels, labelsName), labelsName, classNames);

    private static ImageDataset Combine((byte[] Pixels, int Count, int Height, int Width) images, string imagesPath, byte[] raw, string labelsPath,
        IReadOnlyList<string> classNames)
    {
        var (pixels, n, h, w) = images;
        if (raw.Length != n)
            throw new InvalidDataException($"'{labelsPath}' holds {raw.Length} labels but '{imagesPath}' holds {n} images");
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            if (raw[i] >= classNames.Count)
                throw new InvalidDataException($"'{labelsPath}': record {i} has label {raw[i]}, but the dataset declares {classNames.Count} classes (0..{classNames.Count - 1})");
            labels[i] = raw[i];
        }
        return new ImageDataset(pixels, labels, 1, h, w, classNames, $"IDX {Path.GetFileName(imagesPath)} + {Path.GetFileName(labelsPath)}");
    }

    private static (byte[] Pixels, int Count, int Height, int Width) ReadImagesCore(Stream stream, string path)
    {
        var dims = ReadHeader(stream, path, ImagesMagic, "idx3 images");
        int n = dims[0], h = dims[1], w = dims[2];
        if (h <= 0 || w <= 0) throw new InvalidDataException($"'{path}': image size {h}x{w} is not positive");
        long total = (long)n * h * w;
        if (total > Array.MaxLength) throw new InvalidDataException($"'{path}': {n} images of {h}x{w} do not fit in one array");
        var pixels = ReadRecords(stream, path, n, h * w, "image");
        return (pixels, n, h, w);
    }

    private static byte[] ReadLabelsCore(Stream stream, string path)
    {
        var dims = ReadHeader(stream, path, LabelsMagic, "idx1 labels");
        return ReadRecords(stream, path, dims[0], 1, "label");
    }

    /// <summary>Opens a file, transparently decompressing it when it starts with the gzip magic.</summary>
    internal static Stream Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX file '{path}' does not exist", path);
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> magic = stackalloc byte[2];
        int got = fs.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        fs.Position = 0;
        if (got == 2 && IsGzip(magic))
            return new BufferedStream(new GZipStream(fs, CompressionMode.Decompress), 1 << 16);
        return fs;
    }

    /// <summary>
    /// A stream to read <paramref name="stream"/>'s IDX bytes from, decompressing gzip; disposing it leaves
    /// <paramref name="stream"/> open. A stream that cannot seek is copied to memory first, to look at its first bytes.
    /// </summary>
    private static Stream Decompressed(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        Stream s = stream;
        if (!s.CanSeek)
        {
            var copy = new MemoryStream();
            s.CopyTo(copy);
            copy.Position = 0;
            s = copy;
        }
        long start = s.Position;
        Span<byte> magic = stackalloc byte[2];
        int got = s.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        s.Position = start;
        if (got == 2 && IsGzip(magic))
            return new BufferedStream(new GZipStream(s, CompressionMode.Decompress, leaveOpen: ReferenceEquals(s, stream)), 1 << 16);
        return ReferenceEquals(s, stream) ? new LeaveOpen(s) : s;
    }

    private static bool IsGzip(ReadOnlySpan<byte> magic) => magic[0] == 0x1f && magic[1] == 0x8b;

    /// <summary>Reads through to a caller's stream without closing it.</summary>
    private sealed class LeaveOpen(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => inner.CanSeek;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static int[] ReadHeader(Stream s, string path, uint expectedMagic, string what)
    {
        Span<byte> head = stackalloc byte[4];
        if (ReadFully(s, path, head) < 4)
            throw new InvalidDataException($"'{path}' is truncated: it ends inside the 4-byte IDX magic");
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(head);
        if (magic != expectedMagic)
            throw new InvalidDataException($"'{path}' is not an {what} file: magic is 0x{magic:x8}, expected 0x{expectedMagic:x8}");
        int ndim = head[3];
        var dims = new int[ndim];
        Span<byte> d = stackalloc byte[4];
        for (int i = 0; i < ndim; i++)
        {
            if (ReadFully(s, path, d) < 4)
                throw new InvalidDataException($"'{path}' is truncated: it ends inside the size of dimension {i} of {ndim}");
            uint v = BinaryPrimitives.ReadUInt32BigEndian(d);
            if (v > int.MaxValue) throw new InvalidDataException($"'{path}': dimension {i} has size {v}, too large");
            dims[i] = (int)v;
        }
        return dims;
    }

    private static byte[] ReadRecords(Stream s, string path, int records, int recordSize, string what)
    {
        long total = (long)records * recordSize;
        // A raw file can be checked before allocating what a corrupt header might declare.
        if (s.CanSeek && s.Length - s.Position < total) Truncated(s.Length - s.Position);
        var target = new byte[total];
        int got = ReadFully(s, path, target);
        if (got < total) Truncated(got);
        Span<byte> one = stackalloc byte[1];
        if (ReadFully(s, path, one) != 0)
            throw new InvalidDataException($"'{path}' has extra bytes after the {records} {what}s its header declares");
        return target;

        void Truncated(long got) => throw new InvalidDataException(
            $"'{path}' is truncated: the header declares {records} {what}s of {recordSize} bytes, but the data ends inside {what} record {got / recordSize} (byte {got} of {total})");
    }

    private static int ReadFully(Stream s, string path, Span<byte> buffer)
    {
        try { return s.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false); }
        catch (InvalidDataException e) { throw new InvalidDataException($"'{path}': gzip data is corrupt or truncated: {e.Message}", e); }
    }
}
