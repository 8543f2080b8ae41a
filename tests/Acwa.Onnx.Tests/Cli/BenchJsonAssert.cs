using System.Text.Json.Nodes;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>Reads a bench command's <c>--json</c> file and checks what every document and every measurement must hold.</summary>
internal static class BenchJsonAssert
{
    /// <summary>The document at <paramref name="path"/>, after checking its header names <paramref name="command"/>.</summary>
    public static JsonObject Load(string path, string command)
    {
        Assert.True(File.Exists(path), $"no JSON written at {path}");
        var doc = Assert.IsType<JsonObject>(JsonNode.Parse(File.ReadAllText(path)));
        Assert.Equal(command, (string?)doc["command"]);
        Assert.Equal(1, (int)doc["schema_version"]!);
        Assert.True(DateTimeOffset.TryParse((string?)doc["created"], System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out _));
        Assert.Equal(Environment.ProcessorCount, (int)doc["machine"]!["cores"]!);
        Assert.False(string.IsNullOrEmpty((string?)doc["machine"]!["onnxruntime"]));
        // Written through a temporary file renamed over the target: none is left beside it.
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileName(path) + ".tmp-*"));
        return doc;
    }

    /// <summary>
    /// A measurement (<c>median</c>, <c>min</c>, <c>max</c>, <c>values</c>): <paramref name="count"/> positive finite values,
    /// and a summary that is theirs. Returns the median.
    /// </summary>
    public static double Measured(JsonNode? node, int count)
    {
        Assert.NotNull(node);
        var values = node["values"]!.AsArray().Select(v => (double)v!).ToArray();
        Assert.Equal(count, values.Length);
        Assert.All(values, v => Assert.True(double.IsFinite(v) && v > 0, $"value {v}"));
        Assert.Equal(values.Min(), (double)node["min"]!);
        Assert.Equal(values.Max(), (double)node["max"]!);
        var s = values.Order().ToArray();
        double median = s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
        Assert.Equal(median, (double)node["median"]!, 12);
        return median;
    }

    /// <summary>Asserts <paramref name="actual"/> equals <paramref name="expected"/> up to rounding (relative 1e-9).</summary>
    public static void Ratio(double expected, double actual) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-9 * Math.Abs(expected), $"ratio {actual}, expected {expected}");
}
