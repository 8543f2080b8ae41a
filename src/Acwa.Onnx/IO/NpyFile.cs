using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Acwa.Onnx.IO;

/// <summary>
/// Reads and writes numpy <c>.npy</c> files: format versions 1.0, 2.0 and 3.0 headers, dtypes <c>&lt;i4 &lt;i8 &lt;f4 &lt;f8 |u1 |b1</c>,
/// C order only. Errors name the file and the header field at fault. Writes are atomic (<see cref="AtomicFile"/>)
/// and use version 1.0 unless the header needs 2.0.
/// </summary>
public static class NpyFile
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a supported .npy file (the message names the file and field).</exception>
    public static NpyArray Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        return Parse(bytes, path);
    }

    /// <summary>Reads class labels: a 1-D int32, int64 or uint8 array.</summary>
    /// <exception cref="InvalidDataException">Another element type or rank (the message names the file).</exception>
    public static int[] ReadLabels(string path)
    {
        var y = Read(path);
        if (y.DType is not (NpyDType.Int32 or NpyDType.Int64 or NpyDType.UInt8) || y.Shape.Count != 1)
            throw new InvalidDataException($"{path}: labels must be a 1-D integer array, got {y.DType} ({string.Join(", ", y.Shape)})");
        return y.ToInt32Array();
    }

    /// <summary>Parses .npy bytes; <paramref name="source"/> names the data in errors.</summary>
    public static NpyArray Parse(byte[] bytes, string source)
    {
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic))
            throw new InvalidDataException($"{source}: not a .npy file (bad magic)");
        int major = bytes[6], minor = bytes[7];
        int headerLen, pos;
        if (major == 1) { headerLen = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)); pos = 10; }
        else if (major is 2 or 3)
        {
            if (bytes.Length < 12) throw new InvalidDataException($"{source}: truncated header");
            uint h = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
            if (h > int.MaxValue) throw new InvalidDataException($"{source}: header length {h} too large");
            headerLen = (int)h; pos = 12;
        }
        else throw new InvalidDataException($"{source}: unsupported .npy format version {major}.{minor}");
        if ((long)pos + headerLen > bytes.Length) throw new InvalidDataException($"{source}: truncated header (needs {headerLen} bytes)");
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(bytes, pos, headerLen);
        pos += headerLen;

        var (dtype, shape, descr) = HeaderFields(header, source);

        long count = 1, nbytes;
        try
        {
            foreach (var d in shape) count = checked(count * d);
            nbytes = checked(count * ItemSize(dtype));
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"{source}: header field 'shape' ({string.Join(", ", shape)}) has more elements than a file can hold");
        }
        if (bytes.Length - pos != nbytes)
            throw new InvalidDataException($"{source}: data holds {bytes.Length - pos} bytes but shape ({string.Join(", ", shape)}) of {descr} needs {nbytes}");
        if (nbytes > Array.MaxLength) throw new InvalidDataException($"{source}: array too large ({nbytes} bytes)");
        return new NpyArray(source, dtype, shape, bytes.AsSpan(pos).ToArray());
    }

    /// <summary>Writes a 1-D array.</summary>
    public static void Write<T>(string path, ReadOnlySpan<T> data) where T : unmanaged => Write(path, data, [data.Length]);

    /// <summary>Writes <paramref name="data"/> with <paramref name="shape"/> (C order) atomically. T: int, long, float, double, byte or bool.</summary>
    /// <exception cref="ArgumentException">The shape's element count differs from the data length, or T is not supported.</exception>
    public static void Write<T>(string path, ReadOnlySpan<T> data, ReadOnlySpan<long> shape) where T : unmanaged
    {
        string descr = typeof(T) == typeof(int) ? "<i4" : typeof(T) == typeof(long) ? "<i8" : typeof(T) == typeof(float) ? "<f4"
            : typeof(T) == typeof(double) ? "<f8" : typeof(T) == typeof(byte) ? "|u1" : typeof(T) == typeof(bool) ? "|b1"
            : throw new ArgumentException($"element type {typeof(T).Name} is not supported by .npy writing");
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension {d} in shape", nameof(shape));
            count *= d;
        }
        if (count != data.Length) throw new ArgumentException($"shape ({string.Join(", ", shape.ToArray())}) has {count} elements, data has {data.Length}", nameof(shape));
        string shapeText = shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape.ToArray())})";
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shapeText}, }}";
        int prefix = 10;
        int total = prefix + dict.Length + 1;
        int major = 1;
        if ((total + 63) / 64 * 64 - prefix > ushort.MaxValue) { major = 2; prefix = 12; total = prefix + dict.Length + 1; }
        int padded = (total + 63) / 64 * 64;
        var headerText = dict + new string(' ', padded - total) + "\n";
        var bytes = new byte[padded + (long)data.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>()];
        Magic.CopyTo(bytes);
        bytes[6] = (byte)major; bytes[7] = 0;
        if (major == 1) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)headerText.Length);
        else BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)headerText.Length);
        Encoding.Latin1.GetBytes(headerText, bytes.AsSpan(prefix));
        MemoryMarshal.AsBytes(data).CopyTo(bytes.AsSpan(padded));
        AtomicFile.Write(path, fs => fs.Write(bytes));
    }

    /// <summary>The dtype, shape and descr of a parsed header dictionary.</summary>
    private static (NpyDType DType, long[] Shape, string Descr) HeaderFields(string header, string source)
    {
        string descr = StringField(header, "descr", source);
        var dtype = descr switch
        {
            "<i4" => NpyDType.Int32,
            "<i8" => NpyDType.Int64,
            "<f4" => NpyDType.Float32,
            "<f8" => NpyDType.Float64,
            "|u1" => NpyDType.UInt8,
            "|b1" => NpyDType.Bool,
            _ when descr.StartsWith('>') => throw new InvalidDataException($"{source}: field 'descr' = '{descr}' is big-endian; only little-endian is supported"),
            _ => throw new InvalidDataException($"{source}: field 'descr' = '{descr}' is not supported (use <i4, <i8, <f4, <f8, |u1 or |b1)"),
        };
        string fortran = RawField(header, "fortran_order", source);
        if (fortran == "True") throw new InvalidDataException($"{source}: field 'fortran_order' is True; only C-order arrays are supported (save with numpy.ascontiguousarray)");
        if (fortran != "False") throw new InvalidDataException($"{source}: field 'fortran_order' = '{fortran}' is not True/False");
        var shape = ParseShape(RawField(header, "shape", source), source);
        return (dtype, shape, descr);
    }

    /// <summary>Reads the header of <paramref name="path"/> only: its element type and shape (e.g. the sample count N of <c>[N, ...]</c>).</summary>
    /// <exception cref="InvalidDataException">Not a supported .npy file, or its size does not match the header (the message names the file).</exception>
    public static (NpyDType DType, IReadOnlyList<long> Shape) ReadShape(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 12);
        var (dtype, shape, _, _) = ReadHeader(fs, path);
        return (dtype, shape);
    }

    /// <summary>
    /// Reads rows <c>[start, end)</c> of the first axis of <paramref name="path"/> without reading the rest of the file: an array
    /// of shape <c>[end - start, ...]</c> (a shard of a large sample file).
    /// </summary>
    /// <exception cref="InvalidDataException">Not a supported .npy file, a 0-D array, or a size that does not match the header.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range is not within <c>[0, N]</c>.</exception>
    public static NpyArray ReadRows(string path, long start, long end)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var (dtype, shape, offset, rowBytes) = ReadHeader(fs, path);
        if (shape.Length == 0) throw new InvalidDataException($"{path}: a 0-D array has no rows");
        if (start < 0 || end < start || end > shape[0])
            throw new ArgumentOutOfRangeException(nameof(end), $"{path}: rows [{start}, {end}) are outside [0, {shape[0]}]");
        long nbytes = checked((end - start) * rowBytes);
        if (nbytes > Array.MaxLength) throw new InvalidDataException($"{path}: rows [{start}, {end}) are too large for one array ({nbytes} bytes)");
        var data = new byte[nbytes];
        fs.Seek(offset + start * rowBytes, SeekOrigin.Begin);
        fs.ReadExactly(data);
        var rows = shape.ToArray();
        rows[0] = end - start;
        return new NpyArray(path, dtype, rows, data);
    }

    /// <summary>Parses the header at the start of <paramref name="fs"/>; checks the file's length against it.</summary>
    private static (NpyDType DType, long[] Shape, long DataOffset, long RowBytes) ReadHeader(FileStream fs, string source)
    {
        var pre = new byte[12];
        int got = fs.ReadAtLeast(pre, 12, throwOnEndOfStream: false);
        if (got < 10 || !pre.AsSpan(0, 6).SequenceEqual(Magic)) throw new InvalidDataException($"{source}: not a .npy file (bad magic)");
        int major = pre[6], minor = pre[7];
        long headerLen, pos;
        if (major == 1) { headerLen = BinaryPrimitives.ReadUInt16LittleEndian(pre.AsSpan(8)); pos = 10; }
        else if (major is 2 or 3)
        {
            if (got < 12) throw new InvalidDataException($"{source}: truncated header");
            headerLen = BinaryPrimitives.ReadUInt32LittleEndian(pre.AsSpan(8)); pos = 12;
            if (headerLen > int.MaxValue) throw new InvalidDataException($"{source}: header length {headerLen} too large");
        }
        else throw new InvalidDataException($"{source}: unsupported .npy format version {major}.{minor}");
        if (pos + headerLen > fs.Length) throw new InvalidDataException($"{source}: truncated header (needs {headerLen} bytes)");
        var hb = new byte[headerLen];
        fs.Seek(pos, SeekOrigin.Begin);
        fs.ReadExactly(hb);
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(hb);
        var (dtype, shape, descr) = HeaderFields(header, source);
        long count = 1, row = ItemSize(dtype), nbytes;
        try
        {
            foreach (var d in shape) count = checked(count * d);
            for (int i = 1; i < shape.Length; i++) row = checked(row * shape[i]);
            nbytes = checked(count * ItemSize(dtype));
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"{source}: header field 'shape' ({string.Join(", ", shape)}) has more elements than a file can hold");
        }
        long offset = pos + headerLen;
        if (fs.Length - offset != nbytes)
            throw new InvalidDataException($"{source}: data holds {fs.Length - offset} bytes but shape ({string.Join(", ", shape)}) of {descr} needs {nbytes}");
        return (dtype, shape, offset, row);
    }

    private static int ItemSize(NpyDType t) => t switch
    {
        NpyDType.Int32 or NpyDType.Float32 => 4,
        NpyDType.Int64 or NpyDType.Float64 => 8,
        _ => 1,
    };

    private static int FieldStart(string header, string name, string source)
    {
        int k = header.IndexOf($"'{name}'", StringComparison.Ordinal);
        if (k < 0) k = header.IndexOf($"\"{name}\"", StringComparison.Ordinal);
        if (k < 0) throw new InvalidDataException($"{source}: header has no field '{name}'");
        int colon = header.IndexOf(':', k + name.Length + 2);
        if (colon < 0) throw new InvalidDataException($"{source}: header field '{name}' has no value");
        int v = colon + 1;
        while (v < header.Length && header[v] == ' ') v++;
        return v;
    }

    private static string StringField(string header, string name, string source)
    {
        int v = FieldStart(header, name, source);
        if (v >= header.Length || header[v] is not ('\'' or '"')) throw new InvalidDataException($"{source}: header field '{name}' is not a string");
        int end = header.IndexOf(header[v], v + 1);
        if (end < 0) throw new InvalidDataException($"{source}: header field '{name}' is an unterminated string");
        return header[(v + 1)..end];
    }

    private static string RawField(string header, string name, string source)
    {
        int v = FieldStart(header, name, source);
        if (v < header.Length && header[v] == '(')
        {
            int end = header.IndexOf(')', v);
            if (end < 0) throw new InvalidDataException($"{source}: header field '{name}' has an unterminated tuple");
            return header[v..(end + 1)];
        }
        int e = v;
        while (e < header.Length && header[e] is not (',' or '}')) e++;
        return header[v..e].Trim();
    }

    private static long[] ParseShape(string text, string source)
    {
        if (!text.StartsWith('(') || !text.EndsWith(')')) throw new InvalidDataException($"{source}: header field 'shape' = {text} is not a tuple");
        var parts = text[1..^1].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var shape = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            var p = parts[i].TrimEnd('L');
            if (!long.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out shape[i]))
                throw new InvalidDataException($"{source}: header field 'shape' has a bad dimension '{parts[i]}'");
        }
        return shape;
    }
}
