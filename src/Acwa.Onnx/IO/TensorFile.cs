using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Acwa.Onnx.IO;

/// <summary>
/// Acwa's tensor container: checkpoints and initial training state. Layout (little-endian):
/// magic <c>ACWATNS1</c> (8 bytes), header length (u32), header JSON (UTF-8: tensors with name, dtype, shape, offset,
/// length in bytes, and a free-form <c>meta</c> object), tensor data, then the SHA-256 of everything before it (32 bytes).
/// Writes are atomic (temp file, fsync, rename); loads verify the checksum and name the file in every error.
/// </summary>
public static class TensorFile
{
    private static ReadOnlySpan<byte> Magic => "ACWATNS1"u8;

    /// <summary>Writes tensors and metadata to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, IReadOnlyList<HostTensor> tensors, JsonObject? meta = null)
    {
        var entries = new JsonArray();
        long offset = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (!seen.Add(t.Name)) throw new ArgumentException($"tensor '{t.Name}' appears twice");
            if ((t.Data is null) == (t.Int64Data is null)) throw new ArgumentException($"tensor '{t.Name}' must hold exactly one of fp32 or int64 data");
            long count = 1; foreach (var d in t.Shape) count *= d;
            if (count != t.Length) throw new ArgumentException($"tensor '{t.Name}': shape [{string.Join(",", t.Shape)}] has {count} elements, data has {t.Length}");
            long bytes = t.Data is not null ? t.Data.Length * 4L : t.Int64Data!.Length * 8L;
            entries.Add(new JsonObject
            {
                ["name"] = t.Name,
                ["dtype"] = t.Data is not null ? "float32" : "int64",
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["offset"] = offset,
                ["length"] = bytes,
            });
            offset += bytes;
        }
        var header = new JsonObject { ["tensors"] = entries, ["meta"] = meta?.DeepClone() ?? new JsonObject() };
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());

        AtomicFile.Write(path, fs =>
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            void Put(ReadOnlySpan<byte> b) { fs.Write(b); sha.AppendData(b); }
            Put(Magic);
            Span<byte> len = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)headerBytes.Length);
            Put(len);
            Put(headerBytes);
            foreach (var t in tensors)
            {
                if (t.Data is not null) Put(MemoryMarshal.AsBytes(t.Data.AsSpan()));
                else Put(MemoryMarshal.AsBytes(t.Int64Data!.AsSpan()));
            }
            fs.Write(sha.GetHashAndReset());
        });
    }

    /// <summary>
    /// Reads only a tensor file's metadata: the header, not the tensors, and without the checksum check, which
    /// <see cref="Load"/> makes when the file is loaded. For decisions about a file before loading it (a resumed run's
    /// settings), so that a large checkpoint is not read and hashed once more for them.
    /// </summary>
    public static JsonObject LoadMeta(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tensor file '{path}' does not exist", path);
        using var fs = File.OpenRead(path);
        var head = new byte[Magic.Length + 4];
        int got = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (fs.Length < Magic.Length + 4 + 32 || got < head.Length || !head.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidDataException($"'{path}' is not an Acwa tensor file (bad magic or too short: {fs.Length} bytes)");
        var header = new byte[HeaderLength(path, head, fs.Length)];
        fs.ReadExactly(header);
        return ParseHeader(path, header)["meta"] as JsonObject ?? new JsonObject();
    }

    /// <summary>The header length stored after the magic, checked to fit a file of <paramref name="fileLength"/> bytes.</summary>
    private static uint HeaderLength(string path, ReadOnlySpan<byte> start, long fileLength)
    {
        uint headerLen = BinaryPrimitives.ReadUInt32LittleEndian(start.Slice(Magic.Length, 4));
        if (headerLen > fileLength - 32 - Magic.Length - 4) throw new InvalidDataException($"'{path}': header length {headerLen} runs past the end of the file");
        return headerLen;
    }

    private static JsonObject ParseHeader(string path, ReadOnlySpan<byte> bytes)
    {
        try { return JsonNode.Parse(bytes) as JsonObject ?? throw new InvalidDataException($"'{path}': header is not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}': header is not valid JSON: {e.Message}", e); }
    }

    /// <summary>Reads a tensor file, verifying its checksum. Returns the tensors in file order and the metadata.</summary>
    public static (List<HostTensor> Tensors, JsonObject Meta) Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tensor file '{path}' does not exist", path);
        var all = File.ReadAllBytes(path);
        if (all.Length < Magic.Length + 4 + 32 || !all.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidDataException($"'{path}' is not an Acwa tensor file (bad magic or too short: {all.Length} bytes)");
        var body = all.AsSpan(0, all.Length - 32);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(all.AsSpan(all.Length - 32)))
            throw new InvalidDataException($"'{path}' is corrupt: its SHA-256 checksum does not match its contents");
        uint headerLen = HeaderLength(path, all, all.Length);
        int dataStart = Magic.Length + 4 + (int)headerLen;
        var header = ParseHeader(path, all.AsSpan(Magic.Length + 4, (int)headerLen));
        var data = body[dataStart..];
        var list = new List<HostTensor>();
        if (header["tensors"] is not JsonArray entries) throw new InvalidDataException($"'{path}': header has no 'tensors' array");
        for (int index = 0; index < entries.Count; index++)
        {
            string name = $"#{index}", dtype;
            long[] shape;
            long off, len;
            try
            {
                var node = entries[index] as JsonObject ?? throw new InvalidDataException("not a JSON object");
                name = node["name"]?.GetValue<string>() ?? throw new InvalidDataException("no 'name'");
                dtype = node["dtype"]?.GetValue<string>() ?? throw new InvalidDataException("no 'dtype'");
                shape = (node["shape"] as JsonArray ?? throw new InvalidDataException("no 'shape' array")).Select(d => d!.GetValue<long>()).ToArray();
                off = node["offset"]?.GetValue<long>() ?? throw new InvalidDataException("no 'offset'");
                len = node["length"]?.GetValue<long>() ?? throw new InvalidDataException("no 'length'");
            }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException or FormatException or NullReferenceException)
            {
                throw new InvalidDataException($"'{path}': header entry {index} (tensor '{name}') is malformed: {e.Message}", e);
            }
            if (off < 0 || len < 0 || off > data.Length || len > data.Length - off) throw new InvalidDataException($"'{path}': tensor '{name}' lies outside the data section");
            int size = dtype switch
            {
                "float32" => 4,
                "int64" => 8,
                _ => throw new InvalidDataException($"'{path}': tensor '{name}' has unsupported dtype '{dtype}'"),
            };
            long count = 1;
            foreach (var d in shape)
            {
                if (d < 0 || (d > 0 && count > long.MaxValue / d)) throw new InvalidDataException($"'{path}': tensor '{name}' has an invalid shape [{string.Join(",", shape)}]");
                count *= d;
            }
            if (len % size != 0 || count != len / size)
                throw new InvalidDataException($"'{path}': tensor '{name}' has shape [{string.Join(",", shape)}] ({count} {dtype} values) but {len} bytes of data");
            var bytes = data.Slice((int)off, (int)len);
            list.Add(size == 4
                ? HostTensor.Of(name, shape, MemoryMarshal.Cast<byte, float>(bytes).ToArray())
                : HostTensor.OfInt64(name, shape, MemoryMarshal.Cast<byte, long>(bytes).ToArray()));
        }
        return (list, header["meta"] as JsonObject ?? new JsonObject());
    }
}
