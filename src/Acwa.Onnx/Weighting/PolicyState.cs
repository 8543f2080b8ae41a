using System.Text.Json;
using System.Text.Json.Nodes;

namespace Acwa.Onnx.Weighting;

/// <summary>JSON helpers for policy state; every reader names the field that is missing or wrong.</summary>
internal static class PolicyState
{
    public static JsonArray ToJson(ReadOnlySpan<double> values)
    {
        var array = new JsonArray();
        foreach (var v in values)
            array.Add(JsonValue.Create(v));
        return array;
    }

    public static JsonArray ToJson(ReadOnlySpan<long> values)
    {
        var array = new JsonArray();
        foreach (var v in values)
            array.Add(JsonValue.Create(v));
        return array;
    }

    public static JsonNode Get(JsonObject state, string field) =>
        state[field] ?? throw new ArgumentException($"Policy state has no field '{field}'.", nameof(state));

    public static string GetString(JsonObject state, string field) => Convert<string>(Get(state, field), field);

    public static int GetInt(JsonObject state, string field) => Convert<int>(Get(state, field), field);

    public static bool GetBool(JsonObject state, string field) => Convert<bool>(Get(state, field), field);

    public static JsonObject GetObject(JsonObject state, string field) =>
        Get(state, field) as JsonObject ?? throw new ArgumentException($"Policy state field '{field}' is not a JSON object.", nameof(state));

    public static double[] GetDoubles(JsonObject state, string field, int length)
    {
        var array = GetArray(state, field, length);
        var values = new double[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = Convert<double>(array[i], $"{field}[{i}]");
            if (!double.IsFinite(values[i]))
                throw new ArgumentException($"Policy state field '{field}'[{i}] is {values[i]:R}, not a finite number.", nameof(state));
        }
        return values;
    }

    public static long[] GetLongs(JsonObject state, string field, int length)
    {
        var array = GetArray(state, field, length);
        var values = new long[length];
        for (int i = 0; i < length; i++)
            values[i] = Convert<long>(array[i], $"{field}[{i}]");
        return values;
    }

    private static JsonArray GetArray(JsonObject state, string field, int length)
    {
        if (Get(state, field) is not JsonArray array)
            throw new ArgumentException($"Policy state field '{field}' is not a JSON array.", nameof(state));
        if (array.Count != length)
            throw new ArgumentException($"Policy state field '{field}' has {array.Count} entries, expected {length}.", nameof(state));
        return array;
    }

    private static T Convert<T>(JsonNode? node, string field)
    {
        try
        {
            if (node is JsonValue value)
                return value.GetValue<T>();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException or OverflowException)
        {
            throw new ArgumentException($"Policy state field '{field}' is {node?.ToJsonString()}, not a {typeof(T).Name}.", "state", e);
        }
        throw new ArgumentException($"Policy state field '{field}' is {node?.ToJsonString() ?? "null"}, not a {typeof(T).Name}.", "state");
    }
}
