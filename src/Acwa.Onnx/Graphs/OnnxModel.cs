using Acwa.Onnx.Graphs.Proto;
using Google.Protobuf;
using Acwa.Onnx.IO;

namespace Acwa.Onnx.Graphs;

/// <summary>Reads and writes ONNX model files, including tensors kept in external data files.</summary>
public static class OnnxModel
{
    /// <summary>The default opset of graphs Acwa.Onnx builds.</summary>
    public const int DefaultOpset = 18;

    /// <summary>IR version written for opset 18 graphs.</summary>
    public const int DefaultIrVersion = 8;

    /// <summary>Wraps a graph into a model with the default ONNX opset.</summary>
    public static ModelProto Create(GraphProto graph, int opset = DefaultOpset, string producer = "Acwa.Onnx")
    {
        var m = new ModelProto { IrVersion = DefaultIrVersion, ProducerName = producer, ProducerVersion = "0.1", Graph = graph };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return m;
    }

    /// <summary>Serialises a model to bytes (all tensor data inline).</summary>
    public static byte[] ToBytes(ModelProto model) => model.ToByteArray();

    /// <summary>Parses a model from bytes; tensors with external data are left unresolved.</summary>
    public static ModelProto FromBytes(ReadOnlySpan<byte> bytes) => ModelProto.Parser.ParseFrom(bytes);

    /// <summary>
    /// Loads a model file and resolves initializers whose data lives in external files (paths relative to the model's folder).
    /// Errors name the file and the tensor.
    /// </summary>
    public static ModelProto Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model '{path}' does not exist", path);
        ModelProto model;
        try { model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)); }
        catch (InvalidProtocolBufferException e) { throw new InvalidDataException($"'{path}' is not a valid ONNX model: {e.Message}", e); }
        if (model.Graph is null) throw new InvalidDataException($"'{path}' has no graph");
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        foreach (var t in model.Graph.Initializer)
            if (t.DataLocation == TensorProto.Types.DataLocation.External) ResolveExternal(t, dir, path);
        return model;
    }

    private static void ResolveExternal(TensorProto t, string dir, string modelPath)
    {
        string? location = null; long offset = 0, length = -1;
        foreach (var kv in t.ExternalData)
        {
            switch (kv.Key)
            {
                case "location": location = kv.Value; break;
                case "offset": offset = ParseExternalField(kv, t, modelPath); break;
                case "length": length = ParseExternalField(kv, t, modelPath); break;
            }
        }
        if (location is null) throw new InvalidDataException($"{modelPath}: tensor '{t.Name}' is external but names no location");
        var file = Path.Combine(dir, location);
        if (!File.Exists(file)) throw new FileNotFoundException($"{modelPath}: external data file '{file}' of tensor '{t.Name}' does not exist", file);
        using var fs = File.OpenRead(file);
        if (offset > fs.Length)
            throw new InvalidDataException($"{modelPath}: tensor '{t.Name}' starts at byte {offset} of '{file}', which has {fs.Length}");
        if (length < 0) length = fs.Length - offset;
        if (length > fs.Length - offset || length > Array.MaxLength)
            throw new InvalidDataException($"{modelPath}: tensor '{t.Name}' wants bytes {offset}..{offset + length} of '{file}', which has {fs.Length}");
        var buf = new byte[length];
        fs.Position = offset;
        fs.ReadExactly(buf);
        t.RawData = ByteString.CopyFrom(buf);
        t.ExternalData.Clear();
        t.DataLocation = TensorProto.Types.DataLocation.Default;
    }

    private static long ParseExternalField(StringStringEntryProto kv, TensorProto t, string modelPath) =>
        long.TryParse(kv.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new InvalidDataException($"{modelPath}: tensor '{t.Name}' has external-data {kv.Key} '{kv.Value}', which is not a non-negative integer");

    /// <summary>
    /// Saves a model atomically (temp file + rename). Initializers larger than <paramref name="externalThresholdBytes"/>
    /// go to one external data file beside it when the whole model would exceed 1.5 GiB or when
    /// <paramref name="forceExternal"/> is set. That file is named after its content (<c>NAME.onnx.HASH.data</c>) and written
    /// before the model, and the data files of earlier saves are deleted only after the new model is in place: a crash at
    /// any point leaves a model whose data file matches it (at worst an unused data file beside it). The passed model is
    /// not modified.
    /// </summary>
    public static void Save(ModelProto model, string path, bool forceExternal = false, long externalThresholdBytes = 1024)
    {
        var full = Path.GetFullPath(path);
        var toWrite = model;
        string? dataName = null;
        if (forceExternal || model.CalculateSize() > 1_500_000_000L)
        {
            toWrite = model.Clone();
            var external = toWrite.Graph.Initializer.Where(t => t.RawData.Length >= externalThresholdBytes).ToList();
            using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            foreach (var t in external) hash.AppendData(t.RawData.Span);
            dataName = $"{Path.GetFileName(full)}.{Convert.ToHexStringLower(hash.GetHashAndReset())[..16]}.data";
            AtomicFile.Write(Path.Combine(Path.GetDirectoryName(full)!, dataName), fs =>
            {
                foreach (var t in external)
                {
                    long offset = fs.Position;
                    fs.Write(t.RawData.Span);
                    t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = dataName });
                    t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                    t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = t.RawData.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                    t.DataLocation = TensorProto.Types.DataLocation.External;
                    t.RawData = ByteString.Empty;
                }
            });
        }
        AtomicFile.Write(full, fs => toWrite.WriteTo(fs));
        DeleteStaleData(full, dataName);
    }

    /// <summary>Deletes the data files of earlier saves of <paramref name="full"/> (NAME.onnx.data, NAME.onnx.HASH.data) except <paramref name="keep"/>.</summary>
    private static void DeleteStaleData(string full, string? keep)
    {
        var dir = Path.GetDirectoryName(full)!;
        var name = Path.GetFileName(full);
        foreach (var f in Directory.EnumerateFiles(dir, name + ".*data"))
        {
            var file = Path.GetFileName(f);
            bool ours = file == name + ".data"
                || (file.Length == name.Length + 22 && file.StartsWith(name + ".", StringComparison.Ordinal) && file.EndsWith(".data", StringComparison.Ordinal)
                    && !file.AsSpan(name.Length + 1, 16).ContainsAnyExcept("0123456789abcdef"));
            if (!ours || file == keep) continue;
            try { File.Delete(f); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
