using System.Text.Json.Nodes;

namespace Acwa.Onnx.Evaluation;

/// <summary>A data file of a <see cref="DatasetFingerprint"/>: its name (no folder) and size in bytes.</summary>
public sealed record DatasetFile(string Name, long Bytes);

/// <summary>
/// What identifies the data a sharded evaluation ran over, so that parts of different data are never merged: the data
/// files (names without their folder, sizes; for a dataset given as a folder, the regular files at its top level, hidden
/// ones and caches left out), the number of samples of the evaluated split and the number of each label in it.
/// <see cref="Spec"/> is informational (paths may differ between machines that mount the same volume elsewhere).
/// </summary>
public sealed record DatasetFingerprint(string Spec, IReadOnlyList<DatasetFile> Files, long Samples, IReadOnlyList<long> LabelCounts)
{
    /// <summary>
    /// The fingerprint of a split read from <paramref name="paths"/> (files, or folders whose top-level files are taken), with
    /// <paramref name="labels"/> the split's labels in [0, <paramref name="classes"/>).
    /// </summary>
    public static DatasetFingerprint Of(string spec, IEnumerable<string> paths, ReadOnlySpan<int> labels, int classes)
    {
        var files = new List<DatasetFile>();
        foreach (var p in paths)
        {
            if (File.Exists(p)) files.Add(new DatasetFile(Path.GetFileName(p), new FileInfo(p).Length));
            else if (Directory.Exists(p))
                files.AddRange(new DirectoryInfo(p).EnumerateFiles()
                    .Where(f => !f.Name.StartsWith('.') && !f.Name.EndsWith(".acwt", StringComparison.OrdinalIgnoreCase))
                    .Select(f => new DatasetFile(f.Name, f.Length)));
        }
        files.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var counts = new long[Math.Max(classes, 1)];
        foreach (var y in labels)
            if ((uint)y < (uint)counts.Length) counts[y]++;
        return new DatasetFingerprint(spec, files, labels.Length, counts);
    }

    /// <summary>Null when <paramref name="other"/> identifies the same data, else what differs (field and both values).</summary>
    public string? Difference(DatasetFingerprint other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (Samples != other.Samples) return $"dataset samples {other.Samples} vs {Samples}";
        if (!Files.SequenceEqual(other.Files))
        {
            string F(IReadOnlyList<DatasetFile> f) => string.Join(", ", f.Select(x => $"{x.Name} ({x.Bytes} bytes)"));
            return $"dataset files [{F(other.Files)}] vs [{F(Files)}]";
        }
        if (!LabelCounts.SequenceEqual(other.LabelCounts))
            return $"dataset label counts [{string.Join(", ", other.LabelCounts)}] vs [{string.Join(", ", LabelCounts)}]";
        return null;
    }

    internal JsonObject ToJson() => new()
    {
        ["spec"] = Spec,
        ["samples"] = Samples,
        ["files"] = new JsonArray(Files.Select(f => (JsonNode)new JsonObject { ["name"] = f.Name, ["bytes"] = f.Bytes }).ToArray()),
        ["label_counts"] = new JsonArray(LabelCounts.Select(c => (JsonNode)JsonValue.Create(c)).ToArray()),
    };

    internal static DatasetFingerprint FromJson(JsonNode? node, string source)
    {
        if (node is not JsonObject o) throw new InvalidDataException($"{source}: field 'dataset' is missing or not an object");
        var files = (o["files"] as JsonArray ?? throw new InvalidDataException($"{source}: field 'dataset.files' is missing"))
            .Select((f, i) => new DatasetFile(
                f?["name"]?.GetValue<string>() ?? throw new InvalidDataException($"{source}: field 'dataset.files[{i}].name' is missing"),
                f["bytes"]?.GetValue<long>() ?? throw new InvalidDataException($"{source}: field 'dataset.files[{i}].bytes' is missing"))).ToArray();
        var counts = (o["label_counts"] as JsonArray ?? throw new InvalidDataException($"{source}: field 'dataset.label_counts' is missing"))
            .Select(c => c?.GetValue<long>() ?? 0).ToArray();
        return new DatasetFingerprint(o["spec"]?.GetValue<string>() ?? "", files,
            o["samples"]?.GetValue<long>() ?? throw new InvalidDataException($"{source}: field 'dataset.samples' is missing"), counts);
    }
}
