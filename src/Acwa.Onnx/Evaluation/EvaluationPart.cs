using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Acwa.Onnx.IO;
using Acwa.Onnx.Metrics;

namespace Acwa.Onnx.Evaluation;

/// <summary>
/// The result of one shard of an evaluation (<see cref="Shard"/>): the raw int64 confusion matrix of samples
/// [<see cref="Start"/>, <see cref="End"/>) of the split, with what identifies the work (model file hash, dataset
/// fingerprint, split, class names, shard I/N). <see cref="Merge"/> checks that parts belong together and sums them
/// exactly; <c>acwa eval --shard I/N --json PART</c> writes one, <c>acwa metrics merge</c> merges them.
/// </summary>
public sealed class EvaluationPart
{
    /// <summary>The value of the JSON field <c>format</c>.</summary>
    public const string Format = "acwa-eval-part/1";

    /// <summary>Creates a part; <paramref name="matrix"/> is copied.</summary>
    /// <exception cref="ArgumentException">Class names that do not match the matrix, or a range outside the dataset.</exception>
    public EvaluationPart(string modelFile, string modelSha256, DatasetFingerprint dataset, string split, IReadOnlyList<string> classNames,
        Shard shard, long start, long end, ConfusionMatrix matrix, double seconds = 0)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentNullException.ThrowIfNull(matrix);
        if (classNames.Count != matrix.Classes) throw new ArgumentException($"{classNames.Count} class names for a {matrix.Classes}-class matrix", nameof(classNames));
        if (start < 0 || end < start || end > dataset.Samples) throw new ArgumentException($"range [{start}, {end}) is outside the dataset's {dataset.Samples} samples", nameof(end));
        if (shard.Count < 1) throw new ArgumentException("shard is default (0/0)", nameof(shard));
        ModelFile = modelFile;
        ModelSha256 = modelSha256;
        Dataset = dataset;
        Split = split;
        ClassNames = classNames.ToArray();
        Shard = shard;
        Start = start;
        End = end;
        Matrix = matrix.Clone();
        Seconds = seconds;
    }

    /// <summary>The model file's name (no folder); informational.</summary>
    public string ModelFile { get; }

    /// <summary>SHA-256 of the model file, lower-case hex (<see cref="Sha256OfFile"/>).</summary>
    public string ModelSha256 { get; }

    /// <summary>The data evaluated (the whole split, not only this part's range).</summary>
    public DatasetFingerprint Dataset { get; }

    /// <summary>The split evaluated (<c>test</c> or <c>train</c>).</summary>
    public string Split { get; }

    /// <summary>One name per class, as the report names them.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Which shard this is.</summary>
    public Shard Shard { get; }

    /// <summary>First sample of the split in this part.</summary>
    public long Start { get; }

    /// <summary>One past the last sample of the split in this part.</summary>
    public long End { get; }

    /// <summary>The counts of this part's samples.</summary>
    public ConfusionMatrix Matrix { get; }

    /// <summary>Seconds the evaluation took (informational; a merged part: the longest part's).</summary>
    public double Seconds { get; }

    /// <summary>The file this part was read from (null when made in memory); errors of <see cref="Merge"/> name it.</summary>
    public string? Source { get; private init; }

    private string Name => Source ?? $"part {Shard}";

    /// <summary>The per-class report of this part's counts: for a merged part, the same report as an unsharded evaluation.</summary>
    public ClassificationReport Report() => ClassificationReport.Create(Matrix, ClassNames);

    /// <summary>Lower-case hex SHA-256 of a file's bytes.</summary>
    public static string Sha256OfFile(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    /// <summary>The part as JSON (format <see cref="Format"/>; counts as a C x C array of integers, row = true class).</summary>
    public string ToJson()
    {
        int c = Matrix.Classes;
        var counts = Matrix.Counts;
        var rows = new JsonArray();
        for (int t = 0; t < c; t++)
            rows.Add(new JsonArray(counts.Slice(t * c, c).ToArray().Select(v => (JsonNode)JsonValue.Create(v)).ToArray()));
        var o = new JsonObject
        {
            ["format"] = Format,
            ["model"] = new JsonObject { ["file"] = ModelFile, ["sha256"] = ModelSha256 },
            ["dataset"] = Dataset.ToJson(),
            ["split"] = Split,
            ["classes"] = new JsonArray(ClassNames.Select(n => (JsonNode)JsonValue.Create(n)).ToArray()),
            ["shard"] = new JsonObject { ["index"] = Shard.Index, ["count"] = Shard.Count },
            ["range"] = new JsonObject { ["start"] = Start, ["end"] = End },
            ["confusion_matrix"] = rows,
            ["invalid"] = new JsonArray(Matrix.InvalidCounts.ToArray().Select(v => (JsonNode)JsonValue.Create(v)).ToArray()),
            ["seconds"] = Math.Round(Seconds, 6),
            ["samples_per_second"] = Seconds > 0 ? Math.Round((End - Start) / Seconds, 1) : 0,
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> atomically (a retried shard overwrites its own part whole).</summary>
    public void Write(string path) => AtomicFile.WriteAllText(path, ToJson() + "\n");

    /// <summary>Reads a part written by <see cref="Write"/>; <see cref="Source"/> becomes <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">Not a part (the message names the file and the field).</exception>
    public static EvaluationPart Read(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Parses <see cref="ToJson"/>'s text; <paramref name="source"/> names it in errors and becomes <see cref="Source"/>.</summary>
    /// <exception cref="InvalidDataException">Not a part (the message names the source and the field).</exception>
    public static EvaluationPart Parse(string json, string source)
    {
        JsonObject o;
        try { o = JsonNode.Parse(json) as JsonObject ?? throw new InvalidDataException($"{source}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e); }
        try
        {
            var format = o["format"]?.GetValue<string>();
            if (format != Format) throw new InvalidDataException($"{source}: field 'format' is {(format is null ? "missing" : $"'{format}'")}, expected '{Format}' (a part written by acwa eval --shard I/N --json)");
            T Req<T>(JsonNode? n, string field) => n is null ? throw new InvalidDataException($"{source}: field '{field}' is missing") : n.GetValue<T>();
            var classes = (o["classes"] as JsonArray ?? throw new InvalidDataException($"{source}: field 'classes' is missing")).Select((n, i) => Req<string>(n, $"classes[{i}]")).ToArray();
            int c = classes.Length;
            if (c < 1) throw new InvalidDataException($"{source}: field 'classes' is empty");
            var rows = o["confusion_matrix"] as JsonArray ?? throw new InvalidDataException($"{source}: field 'confusion_matrix' is missing");
            if (rows.Count != c) throw new InvalidDataException($"{source}: field 'confusion_matrix' has {rows.Count} rows for {c} classes");
            var counts = new long[(long)c * c];
            for (int t = 0; t < c; t++)
            {
                var row = rows[t] as JsonArray;
                if (row is null || row.Count != c) throw new InvalidDataException($"{source}: field 'confusion_matrix[{t}]' is not an array of {c} counts");
                for (int p = 0; p < c; p++)
                {
                    long v = Req<long>(row[p], $"confusion_matrix[{t}][{p}]");
                    if (v < 0) throw new InvalidDataException($"{source}: field 'confusion_matrix[{t}][{p}]' is negative ({v})");
                    counts[(long)t * c + p] = v;
                }
            }
            var invalid = (o["invalid"] as JsonArray)?.Select((n, i) => Req<long>(n, $"invalid[{i}]")).ToArray() ?? new long[c];
            if (invalid.Length != c || invalid.Any(v => v < 0)) throw new InvalidDataException($"{source}: field 'invalid' must hold {c} non-negative counts");
            var shard = o["shard"];
            int index = Req<int>(shard?["index"], "shard.index"), count = Req<int>(shard?["count"], "shard.count");
            if (count < 1 || index < 0 || index >= count) throw new InvalidDataException($"{source}: field 'shard' is {index}/{count}; expected I/N with 0 <= I < N");
            var dataset = DatasetFingerprint.FromJson(o["dataset"], source);
            long start = Req<long>(o["range"]?["start"], "range.start"), end = Req<long>(o["range"]?["end"], "range.end");
            if (start < 0 || end < start || end > dataset.Samples)
                throw new InvalidDataException($"{source}: field 'range' [{start}, {end}) is outside the dataset's {dataset.Samples} samples");
            return new EvaluationPart(Req<string>(o["model"]?["file"], "model.file"), Req<string>(o["model"]?["sha256"], "model.sha256"), dataset,
                Req<string>(o["split"], "split"), classes, new Shard(index, count), start, end, ConfusionMatrix.FromCounts(c, counts, invalid),
                o["seconds"]?.GetValue<double>() ?? 0) { Source = source };
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{source}: a field has the wrong type ({e.Message})", e);
        }
    }

    /// <summary>
    /// Merges the parts of one sharded evaluation into the whole: checks that every part has the same model (hash),
    /// dataset fingerprint, split, class names and shard count, that no shard is given twice, that the parts' sample ranges
    /// do not overlap and are each their shard's range, that no shard is missing and that each part's counts add up to its
    /// range; then sums the counts exactly. The result is shard 0/1 over all samples; its <see cref="Report"/> equals the
    /// report of the unsharded evaluation.
    /// </summary>
    /// <exception cref="InvalidDataException">The parts do not make one evaluation; the message names the part (its
    /// <see cref="Source"/>, else its shard) and what is wrong.</exception>
    public static EvaluationPart Merge(IReadOnlyList<EvaluationPart> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0) throw new InvalidDataException("no parts to merge");
        var first = parts[0];
        foreach (var p in parts.Skip(1))
        {
            string Differs(string what) => $"{p.Name}: {what} (first value from {p.Name}, second from {first.Name}); these parts are not shards of one evaluation";
            if (p.ModelSha256 != first.ModelSha256)
                throw new InvalidDataException(Differs($"model sha256 {p.ModelSha256} ({p.ModelFile}) vs {first.ModelSha256} ({first.ModelFile}): a different model"));
            if (first.Dataset.Difference(p.Dataset) is { } d) throw new InvalidDataException(Differs($"{d}: a different dataset"));
            if (p.Split != first.Split) throw new InvalidDataException(Differs($"split '{p.Split}' vs '{first.Split}'"));
            if (!p.ClassNames.SequenceEqual(first.ClassNames))
                throw new InvalidDataException(Differs($"class names [{string.Join(", ", p.ClassNames)}] vs [{string.Join(", ", first.ClassNames)}]: a different class list"));
            if (p.Shard.Count != first.Shard.Count) throw new InvalidDataException(Differs($"shard count {p.Shard.Count} vs {first.Shard.Count}"));
        }
        int n = first.Shard.Count;
        long samples = first.Dataset.Samples;
        foreach (var g in parts.GroupBy(p => p.Shard.Index).Where(g => g.Count() > 1))
            throw new InvalidDataException($"{string.Join(" and ", g.Select(p => p.Name))} are {(g.Count() == 2 ? "both" : "all")} shard {g.Key}/{n}: a duplicate shard (give each part once)");
        var byStart = parts.OrderBy(p => p.Start).ThenBy(p => p.End).ToList();
        for (int i = 1; i < byStart.Count; i++)
            if (byStart[i].Start < byStart[i - 1].End)
                throw new InvalidDataException($"{byStart[i].Name} (samples [{byStart[i].Start}, {byStart[i].End})) overlaps {byStart[i - 1].Name} (samples [{byStart[i - 1].Start}, {byStart[i - 1].End}))");
        foreach (var p in parts)
        {
            var (s, e) = p.Shard.Range(samples);
            if (p.Start != s || p.End != e)
                throw new InvalidDataException($"{p.Name}: shard {p.Shard} covers samples [{p.Start}, {p.End}), but shard {p.Shard} of {samples} samples is [{s}, {e})");
            if (p.Matrix.Total != p.End - p.Start)
                throw new InvalidDataException($"{p.Name}: its counts sum to {p.Matrix.Total} but its range [{p.Start}, {p.End}) holds {p.End - p.Start} samples");
        }
        var missing = Enumerable.Range(0, n).Except(parts.Select(p => p.Shard.Index)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"missing shard{(missing.Count == 1 ? "" : "s")} " + string.Join(", ", missing.Select(i =>
            {
                var (s, e) = new Shard(i, n).Range(samples);
                return string.Create(CultureInfo.InvariantCulture, $"{i}/{n} (samples [{s}, {e}))");
            })) + $" of {samples} samples; parts given: {string.Join(", ", byStart.Select(p => p.Name))}");
        var total = new ConfusionMatrix(first.Matrix.Classes);
        foreach (var p in parts) total.Add(p.Matrix);
        return new EvaluationPart(first.ModelFile, first.ModelSha256, first.Dataset, first.Split, first.ClassNames, Shard.Whole, 0, samples, total,
            parts.Max(p => p.Seconds));
    }
}
