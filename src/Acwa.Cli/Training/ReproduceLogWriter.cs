using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Acwa.Cli.Training;

/// <summary>
/// Turns one training run's console output into quiet progress for <c>acwa reproduce</c>: every epoch summary becomes one
/// line <c>PREFIX epoch E/N: loss L, val macro-F1 F, S s</c>; everything else (tables, data and model lines) is dropped.
/// Epoch summaries that the console wrapped over several lines are joined first (a summary ends with "%)").
/// </summary>
internal sealed partial class ReproduceLogWriter(TextWriter inner, string prefix) : TextWriter
{
    private readonly StringBuilder _line = new();
    private StringBuilder? _epoch;

    public override Encoding Encoding => inner.Encoding;

    public override void Write(char value)
    {
        if (value == '\r') return;
        if (value != '\n') { _line.Append(value); return; }
        var line = _line.ToString().Trim();
        _line.Clear();
        if (_epoch is null && EpochStart().IsMatch(line)) _epoch = new StringBuilder();
        if (_epoch is null) return;
        if (_epoch.Length > 0) _epoch.Append(' ');
        _epoch.Append(line);
        if (line.EndsWith("%)", StringComparison.Ordinal))
        {
            Emit(_epoch.ToString());
            _epoch = null;
        }
    }

    public override void Write(string? value)
    {
        if (value is null) return;
        foreach (var ch in value) Write(ch);
    }

    private void Emit(string summary)
    {
        var m = EpochSummary().Match(summary);
        inner.WriteLine(m.Success
            ? string.Create(CultureInfo.InvariantCulture, $"{prefix} epoch {m.Groups["e"].Value}: loss {m.Groups["loss"].Value}, val macro-F1 {m.Groups["f1"].Value}, {m.Groups["s"].Value} s")
            : $"{prefix} {summary}");
        inner.Flush();
    }

    [GeneratedRegex(@"^epoch \d+/\d+:")]
    private static partial Regex EpochStart();

    [GeneratedRegex(@"^epoch (?<e>\d+/\d+): loss (?<loss>\S+?),.*val macro-F1 (?<f1>[0-9.]+),.*\], (?<s>[0-9.]+) s \(")]
    private static partial Regex EpochSummary();
}
