using System.Globalization;

namespace Acwa.Onnx.Weighting;

/// <summary>
/// A parsed policy spec: <c>name</c> or <c>name:key=value,key=value</c>. A value that itself contains commas
/// (a nested spec) is written in square brackets: <c>drw:at=0.8,then=[cb:beta=0.999]</c>. Names and keys are
/// case-insensitive and surrounding spaces are ignored.
/// </summary>
internal sealed class PolicySpec
{
    private readonly Dictionary<string, string> _options;

    private PolicySpec(string text, string name, Dictionary<string, string> options)
    {
        Text = text;
        Name = name;
        _options = options;
    }

    /// <summary>The spec as given.</summary>
    public string Text { get; }

    /// <summary>The policy name, lower case.</summary>
    public string Name { get; }

    /// <summary>Option keys as given (lower case).</summary>
    public IReadOnlyCollection<string> Keys => _options.Keys;

    public static PolicySpec Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var text = spec.Trim();
        if (text.Length == 0)
            throw new FormatException("The policy spec is empty.");
        int colon = text.IndexOf(':');
        var name = (colon < 0 ? text : text[..colon]).Trim().ToLowerInvariant();
        if (name.Length == 0)
            throw new FormatException($"Policy spec '{spec}' has no name before ':'.");
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        if (colon >= 0)
        {
            foreach (var part in SplitTopLevel(text[(colon + 1)..], spec))
            {
                int eq = part.IndexOf('=');
                if (eq < 0)
                    throw new FormatException($"Policy spec '{spec}': option '{part.Trim()}' is not of the form key=value.");
                var key = part[..eq].Trim().ToLowerInvariant();
                var value = part[(eq + 1)..].Trim();
                if (key.Length == 0)
                    throw new FormatException($"Policy spec '{spec}': option '{part.Trim()}' has no key.");
                if (value.Length == 0)
                    throw new FormatException($"Policy spec '{spec}': option '{key}' has no value.");
                if (value[0] == '[')
                {
                    if (value[^1] != ']')
                        throw new FormatException($"Policy spec '{spec}': option '{key}' opens '[' but does not end with ']'.");
                    value = value[1..^1].Trim();
                }
                if (!options.TryAdd(key, value))
                    throw new FormatException($"Policy spec '{spec}': option '{key}' is given twice.");
            }
        }
        return new PolicySpec(spec, name, options);
    }

    private static List<string> SplitTopLevel(string body, string spec)
    {
        var parts = new List<string>();
        int depth = 0, start = 0;
        for (int i = 0; i < body.Length; i++)
        {
            switch (body[i])
            {
                case '[': depth++; break;
                case ']':
                    if (--depth < 0)
                        throw new FormatException($"Policy spec '{spec}' has an unmatched ']'.");
                    break;
                case ',' when depth == 0:
                    parts.Add(body[start..i]);
                    start = i + 1;
                    break;
            }
        }
        if (depth != 0)
            throw new FormatException($"Policy spec '{spec}' has an unmatched '['.");
        parts.Add(body[start..]);
        if (parts.Count == 1 && parts[0].Trim().Length == 0)
            throw new FormatException($"Policy spec '{spec}' has ':' but no options after it.");
        return parts;
    }

    /// <summary>Throws if an option is not one of <paramref name="validKeys"/>, listing the valid ones.</summary>
    public void CheckKeys(IReadOnlyList<string> validKeys)
    {
        foreach (var key in _options.Keys)
        {
            if (!validKeys.Contains(key))
            {
                var valid = validKeys.Count == 0 ? "it takes no options" : "valid options: " + string.Join(", ", validKeys);
                throw new FormatException($"Policy '{Name}' has no option '{key}' (in '{Text}'); {valid}.");
            }
        }
    }

    public bool Has(string key) => _options.ContainsKey(key);

    public string? Raw(string key) => _options.TryGetValue(key, out var v) ? v : null;

    /// <summary>A number option; <paramref name="rule"/> says what <paramref name="valid"/> accepts.</summary>
    public double Number(string key, double fallback, Func<double, bool> valid, string rule)
    {
        if (!_options.TryGetValue(key, out var raw))
            return fallback;
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            throw new FormatException($"Policy '{Name}' option '{key}' = '{raw}' is not a finite number (in '{Text}').");
        if (!valid(value))
            throw new FormatException($"Policy '{Name}' option '{key}' = {raw} is out of range: {rule} (in '{Text}').");
        return value;
    }

    /// <summary>A whole-number option.</summary>
    public int Integer(string key, int fallback, int min)
    {
        if (!_options.TryGetValue(key, out var raw))
            return fallback;
        if (!int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            throw new FormatException($"Policy '{Name}' option '{key}' = '{raw}' is not a whole number (in '{Text}').");
        if (value < min)
            throw new FormatException($"Policy '{Name}' option '{key}' = {raw} is out of range: must be at least {min} (in '{Text}').");
        return value;
    }

    /// <summary>An on/off option: on, off, true, false, yes, no, 1, 0.</summary>
    public bool Switch(string key, bool fallback)
    {
        if (!_options.TryGetValue(key, out var raw))
            return fallback;
        return raw.ToLowerInvariant() switch
        {
            "on" or "true" or "yes" or "1" => true,
            "off" or "false" or "no" or "0" => false,
            _ => throw new FormatException($"Policy '{Name}' option '{key}' = '{raw}' is not on/off (in '{Text}')."),
        };
    }

    /// <summary>One of a fixed set of words.</summary>
    public string Choice(string key, string fallback, params string[] choices)
    {
        if (!_options.TryGetValue(key, out var raw))
            return fallback;
        var value = raw.ToLowerInvariant();
        if (!choices.Contains(value))
            throw new FormatException($"Policy '{Name}' option '{key}' = '{raw}' is not one of {string.Join(", ", choices)} (in '{Text}').");
        return value;
    }

    /// <summary>Shortest round-trip text of a double, invariant culture (so a spec recreates the value bit for bit).</summary>
    public static string Num(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>on / off.</summary>
    public static string OnOff(bool value) => value ? "on" : "off";
}
