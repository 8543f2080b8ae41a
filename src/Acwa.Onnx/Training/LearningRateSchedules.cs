using System.Globalization;

namespace Acwa.Onnx.Training;

/// <summary>
/// Parses schedule specs: <c>constant</c>, <c>step:every=30,gamma=0.1</c>, <c>cosine:min=1e-5</c>, each optionally with
/// <c>lr=</c> (else the given base rate) and <c>warmup=E</c> (linear warm-up over E epochs). Case-insensitive.
/// </summary>
public static class LearningRateSchedules
{
    /// <summary>The schedule names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["constant", "step", "cosine"];

    private static readonly Dictionary<string, string[]> Keys = new(StringComparer.Ordinal)
    {
        ["constant"] = ["lr", "warmup"],
        ["step"] = ["lr", "every", "gamma", "warmup"],
        ["cosine"] = ["lr", "min", "warmup"],
    };

    /// <summary>The option keys schedule <paramref name="name"/> takes (as <c>name:key=value,...</c>); empty for an unknown name.</summary>
    public static IReadOnlyList<string> OptionsOf(string name) => Keys.TryGetValue(name.Trim().ToLowerInvariant(), out var k) ? k : [];

    /// <summary>
    /// The spec syntax in one line, built from the names and keys <see cref="Parse"/> accepts (for help texts), e.g.
    /// <c>constant[:lr=,warmup=] | step[:lr=,every=,gamma=,warmup=] | ...</c>.
    /// </summary>
    public static string Syntax => string.Join(" | ", Names.Select(n => $"{n}[:{string.Join(",", Keys[n].Select(k => k + "="))}]"));

    /// <summary>Parses <paramref name="spec"/>; a <see cref="FormatException"/> names the bad part and lists what is valid.</summary>
    public static ILearningRateSchedule Parse(string spec, double baseLearningRate)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var text = spec.Trim();
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        var name = (colon < 0 ? text : text[..colon]).Trim().ToLowerInvariant();
        var opts = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
        if (colon >= 0)
        {
            foreach (var part in text[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var kv = part.Split('=', 2, StringSplitOptions.TrimEntries);
                if (kv.Length != 2 || !double.TryParse(kv[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                    throw new FormatException($"learning-rate schedule '{spec}': option '{part}' is not key=number");
                if (!opts.TryAdd(kv[0], v)) throw new FormatException($"learning-rate schedule '{spec}': option '{kv[0]}' is given twice");
            }
        }
        if (!Keys.TryGetValue(name, out var valid))
            throw new FormatException($"unknown learning-rate schedule '{name}' in '{spec}'; valid: {string.Join(", ", Names)}");
        foreach (var k in opts.Keys)
            if (!valid.Contains(k.ToLowerInvariant())) throw new FormatException($"learning-rate schedule '{spec}': unknown option '{k}'; '{name}' takes {string.Join(", ", valid)}");
        double lr = opts.GetValueOrDefault("lr", baseLearningRate);
        try
        {
            ILearningRateSchedule s = name switch
            {
                "constant" => new ConstantSchedule(lr),
                "step" => new StepDecaySchedule(lr, checked((int)opts.GetValueOrDefault("every", 30)), opts.GetValueOrDefault("gamma", 0.1)),
                _ => new CosineSchedule(lr, opts.GetValueOrDefault("min", 0)),
            };
            return opts.TryGetValue("warmup", out var w) && w > 0 ? new WarmupSchedule(s, w) : s;
        }
        catch (ArgumentException e) { throw new FormatException($"learning-rate schedule '{spec}': {e.Message}", e); }
    }

    internal static void CheckRate(double lr, string name)
    {
        if (!(lr > 0) || double.IsInfinity(lr)) throw new ArgumentOutOfRangeException(name, lr, "the learning rate must be finite and > 0");
    }
}
