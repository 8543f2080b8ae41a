using System.Globalization;

namespace Acwa.Onnx.IO;

/// <summary>
/// Minimal CSV reading for metrics inputs: one column of integers (labels / predictions) or rows of floats (logits).
/// Separator: comma. Floats use invariant culture; <c>inf</c>, <c>-inf</c>, <c>nan</c> are accepted. Blank lines are skipped. A first line whose first field starts with a letter or a quote is
/// treated as a header and skipped. Errors name the file and the 1-based line.
/// </summary>
public static class CsvFile
{
    /// <summary>Reads one integer per line (exactly one field per line).</summary>
    /// <exception cref="InvalidDataException">A line does not hold exactly one integer (the message names file and line).</exception>
    public static long[] ReadIntColumn(string path)
    {
        var values = new List<long>();
        foreach (var (line, number) in DataLines(path))
        {
            var t = line.Trim();
            if (t.Contains(',')) throw new InvalidDataException($"{path}:{number}: expected one integer per line, got '{Clip(t)}'");
            if (!long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
                throw new InvalidDataException($"{path}:{number}: '{Clip(t)}' is not an integer");
            values.Add(v);
        }
        return values.ToArray();
    }

    /// <summary>Reads rows of floats; every row must have the same number of fields.</summary>
    /// <param name="path">The file.</param>
    /// <param name="columns">Fields per row (0 for a file without data rows).</param>
    /// <returns>The values, row-major.</returns>
    /// <exception cref="InvalidDataException">A field is not a number or a row has a different field count (file and line named).</exception>
    public static float[] ReadFloatRows(string path, out int columns)
    {
        var values = new List<float>();
        columns = 0;
        foreach (var (line, number) in DataLines(path))
        {
            var fields = line.Split(',');
            if (columns == 0) columns = fields.Length;
            else if (fields.Length != columns)
                throw new InvalidDataException($"{path}:{number}: {fields.Length} fields, expected {columns} like the first row");
            for (int i = 0; i < fields.Length; i++)
            {
                if (!TryParseFloat(fields[i].Trim(), out var v))
                    throw new InvalidDataException($"{path}:{number}: field {i + 1} '{Clip(fields[i].Trim())}' is not a number");
                values.Add(v);
            }
        }
        return values.ToArray();
    }

    // Also accepts numpy's spellings inf / -inf / nan (case-insensitive), besides .NET's Infinity / NaN.
    private static bool TryParseFloat(string s, out float v)
    {
        if (float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v)) return true;
        var t = s.TrimStart('+');
        if (t.Equals("inf", StringComparison.OrdinalIgnoreCase)) { v = float.PositiveInfinity; return true; }
        if (t.Equals("-inf", StringComparison.OrdinalIgnoreCase)) { v = float.NegativeInfinity; return true; }
        return false;
    }

    private static IEnumerable<(string Line, int Number)> DataLines(string path)
    {
        int number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (number == 1)
            {
                var first = line.TrimStart();
                if (first.Length > 0 && (char.IsLetter(first[0]) || first[0] is '"' or '\'')
                    && !first.StartsWith("nan", StringComparison.OrdinalIgnoreCase)
                    && !first.StartsWith("inf", StringComparison.OrdinalIgnoreCase)) continue; // header
            }
            yield return (line, number);
        }
    }

    private static string Clip(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
