using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Acwa.Onnx.Data;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Evaluation;

/// <summary>
/// What an ONNX classifier may say about itself in its <c>metadata_props</c> (all keys optional):
/// <list type="bullet">
/// <item><c>acwa.normalization</c>: JSON <c>{"mean":[m0,...],"std":[s0,...]}</c>, one entry per input channel, in units of
/// x/255: the model expects <c>(x/255 - mean[c]) / std[c]</c> for byte pixels x (see <see cref="Data.Normalization"/>).</item>
/// <item><c>acwa.class_names</c>: comma-separated class names, one per output column (names are trimmed).</item>
/// <item><c>acwa.input</c>: the name of the image input (fp32 [N, C, H, W]) when the graph has several inputs.</item>
/// <item><c>acwa.output</c>: the name of the logits output (fp32 [N, classes]) when the graph has several outputs.</item>
/// </list>
/// </summary>
/// <param name="Normalization">Input normalisation, or null when the key is absent.</param>
/// <param name="ClassNames">Class names, or null when the key is absent.</param>
/// <param name="Input">Input name, or null when the key is absent.</param>
/// <param name="Output">Logits output name, or null when the key is absent.</param>
public sealed record ClassifierMetadata(
    Normalization? Normalization = null,
    IReadOnlyList<string>? ClassNames = null,
    string? Input = null,
    string? Output = null)
{
    /// <summary>Metadata key of the input normalisation.</summary>
    public const string NormalizationKey = "acwa.normalization";

    /// <summary>Metadata key of the comma-separated class names.</summary>
    public const string ClassNamesKey = "acwa.class_names";

    /// <summary>Metadata key of the image input's name.</summary>
    public const string InputKey = "acwa.input";

    /// <summary>Metadata key of the logits output's name.</summary>
    public const string OutputKey = "acwa.output";

    /// <summary>Reads the keys from a model's <c>metadata_props</c>; unknown keys are ignored.</summary>
    /// <exception cref="InvalidDataException">A key is present but malformed; the message names the key and the value.</exception>
    public static ClassifierMetadata Read(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in model.MetadataProps) map[p.Key] = p.Value;
        return Read(map);
    }

    /// <summary>Reads the keys from a metadata map (e.g. ONNX Runtime's <c>ModelMetadata.CustomMetadataMap</c>).</summary>
    /// <exception cref="InvalidDataException">A key is present but malformed; the message names the key and the value.</exception>
    public static ClassifierMetadata Read(IReadOnlyDictionary<string, string> map)
    {
        ArgumentNullException.ThrowIfNull(map);
        Normalization? norm = null;
        if (map.TryGetValue(NormalizationKey, out var n)) norm = ParseNormalization(n);
        IReadOnlyList<string>? names = null;
        if (map.TryGetValue(ClassNamesKey, out var c))
        {
            names = c.Split(',', StringSplitOptions.TrimEntries);
            if (names.Any(x => x.Length == 0)) throw new InvalidDataException($"metadata '{ClassNamesKey}' = '{c}' has an empty class name");
        }
        string? input = map.TryGetValue(InputKey, out var i) ? NonEmpty(InputKey, i) : null;
        string? output = map.TryGetValue(OutputKey, out var o) ? NonEmpty(OutputKey, o) : null;
        return new ClassifierMetadata(norm, names, input, output);
    }

    /// <summary>
    /// Writes the non-null fields into <paramref name="model"/>'s <c>metadata_props</c>, replacing entries with the same key
    /// (what an inference export calls so that <c>acwa eval</c> needs no flags).
    /// </summary>
    /// <exception cref="ArgumentException">A class name contains a comma or is empty.</exception>
    public void WriteTo(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (Normalization is { } nm)
        {
            var json = new JsonObject
            {
                ["mean"] = new JsonArray(nm.Mean.Select(v => (JsonNode)JsonValue.Create(v)).ToArray()),
                ["std"] = new JsonArray(nm.Std.Select(v => (JsonNode)JsonValue.Create(v)).ToArray()),
            };
            Set(model, NormalizationKey, json.ToJsonString());
        }
        if (ClassNames is { } names)
        {
            foreach (var s in names)
                if (s.Length == 0 || s.Contains(',')) throw new ArgumentException($"class name '{s}' cannot be stored in '{ClassNamesKey}' (empty or holds a comma)");
            Set(model, ClassNamesKey, string.Join(",", names));
        }
        if (Input is not null) Set(model, InputKey, Input);
        if (Output is not null) Set(model, OutputKey, Output);
    }

    private static void Set(ModelProto model, string key, string value)
    {
        for (int i = model.MetadataProps.Count - 1; i >= 0; i--)
            if (model.MetadataProps[i].Key == key) model.MetadataProps.RemoveAt(i);
        model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
    }

    private static string NonEmpty(string key, string value) =>
        value.Trim().Length > 0 ? value.Trim() : throw new InvalidDataException($"metadata '{key}' is empty");

    /// <summary>Parses the <c>acwa.normalization</c> JSON.</summary>
    internal static Normalization ParseNormalization(string text)
    {
        try
        {
            var node = JsonNode.Parse(text) as JsonObject ?? throw new InvalidDataException("not a JSON object");
            float[] Get(string name) => (node[name] as JsonArray ?? throw new InvalidDataException($"no '{name}' array"))
                .Select(v => v?.GetValue<float>() ?? throw new InvalidDataException($"null in '{name}'")).ToArray();
            return new Normalization(Get("mean"), Get("std"));
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException(
                $"metadata '{NormalizationKey}' = '{text}' is not {{\"mean\":[...],\"std\":[...]}} with one finite mean and positive std per channel: {e.Message}", e);
        }
    }

    /// <summary>Formats a float list for messages.</summary>
    internal static string Format(IEnumerable<float> v) => string.Join(",", v.Select(x => x.ToString("R", CultureInfo.InvariantCulture)));
}
