using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Cli.Commands;

/// <summary>
/// Repeated measurements of one quantity (milliseconds, samples per second, a ratio): the values in the order they were
/// taken, and their median, min and max.
/// </summary>
internal sealed record Measured(double Median, double Min, double Max, IReadOnlyList<double> Values)
{
    /// <summary>The summary of <paramref name="values"/> (at least one).</summary>
    public static Measured Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values to summarise", nameof(values));
        return new Measured(MedianOf(values), values.Min(), values.Max(), values.ToArray());
    }

    /// <summary>The median (the mean of the two middle values for an even count).</summary>
    public static double MedianOf(IReadOnlyList<double> values)
    {
        var s = values.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}

/// <summary>
/// The <c>--json FILE</c> output of the bench commands: one JSON object per run, snake_case names, starting with the same
/// header (<see cref="Header"/>), written whole or not at all (<see cref="Write"/>). The fields of each command are listed
/// in docs/benchmarks.md.
/// </summary>
internal static class BenchJson
{
    /// <summary>Version of the documents' layout; raised when a field changes meaning or goes away (new fields keep it).</summary>
    public const int SchemaVersion = 1;

    /// <summary>Serializer settings of the documents: snake_case names, nulls left out, indented.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, // a ratio over a zero time is Infinity, not an exception
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // a file, not HTML: paths and '+' as they are
    };

    /// <summary>
    /// The fields every document starts with: <c>command</c>, <c>schema_version</c>, <c>created</c> (UTC, ISO 8601), and
    /// <c>machine</c> (logical cores, ONNX Runtime version, .NET runtime, OS).
    /// </summary>
    public static JsonObject Header(string command) => new()
    {
        ["command"] = command,
        ["schema_version"] = SchemaVersion,
        ["created"] = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
        ["machine"] = new JsonObject
        {
            ["cores"] = Environment.ProcessorCount,
            ["onnxruntime"] = OrtEnv.Instance().GetVersionString(),
            ["runtime"] = RuntimeInformation.FrameworkDescription,
            ["os"] = RuntimeInformation.OSDescription,
        },
    };

    /// <summary><paramref name="value"/> as a JSON node with the documents' naming.</summary>
    public static JsonNode? Node<T>(T value) => JsonSerializer.SerializeToNode(value, Options);

    /// <summary>
    /// Refuses a path that cannot be a file (an existing folder) before any measurement runs, so that a long benchmark does
    /// not end in a write error. Returns the error message, or null.
    /// </summary>
    public static string? CheckPath(string? path) =>
        path is not null && Directory.Exists(path) ? $"--json: '{path}' is a folder, not a file" : null;

    /// <summary>
    /// Writes <paramref name="document"/> to <paramref name="path"/> atomically: into a temporary file beside it (its folder
    /// is created when missing), then renamed over it, so a reader sees the old file or the whole new one, never a part.
    /// A failed write leaves no temporary file behind and throws <see cref="IOException"/> naming the path.
    /// </summary>
    public static void Write(string path, JsonObject document)
    {
        var full = Path.GetFullPath(path);
        var tmp = $"{full}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(tmp, document.ToJsonString(Options) + "\n");
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(tmp); } catch (Exception d) when (d is IOException or UnauthorizedAccessException) { }
            throw new IOException($"cannot write '{path}': {e.Message}", e);
        }
    }
}
