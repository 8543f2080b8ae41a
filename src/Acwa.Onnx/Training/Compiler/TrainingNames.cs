namespace Acwa.Onnx.Training.Compiler;

/// <summary>
/// The names of losses and optimizers as users write them (command line, config.json, <see cref="Runs.TrainingRunOptions"/>
/// specs): the one place that maps them to <see cref="LossKind"/> and <see cref="OptimizerKind"/> and back.
/// </summary>
public static class TrainingNames
{
    /// <summary>Loss names: ce, focal, ldam, la (logit-adjusted loss; "logit-adjusted" is accepted too).</summary>
    public static IReadOnlyList<string> Losses { get; } = ["ce", "focal", "ldam", "la"];

    /// <summary>Optimizer names: adam, adamw, sgd.</summary>
    public static IReadOnlyList<string> Optimizers { get; } = ["adam", "adamw", "sgd"];

    /// <summary>The loss called <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="FormatException">Unknown name; the message lists the valid ones.</exception>
    public static LossKind ParseLoss(string name) => (name ?? throw new ArgumentNullException(nameof(name))).Trim().ToLowerInvariant() switch
    {
        "ce" or "cross-entropy" => LossKind.CrossEntropy,
        "focal" => LossKind.Focal,
        "ldam" => LossKind.Ldam,
        "la" or "logit-adjusted" => LossKind.LogitAdjusted,
        _ => throw new FormatException($"unknown loss '{name}': use {string.Join(", ", Losses)}"),
    };

    /// <summary>
    /// A loss spec: a loss name, optionally with its hyper-parameters as <c>key=value</c> after a colon:
    /// <c>focal:gamma=1</c>, <c>ldam:s=30,margin=0.5</c>, <c>la:tau=1.5</c> (<see cref="LossSettings"/>; unnamed keys keep
    /// their defaults). <see cref="LossSpec"/> writes it back.
    /// </summary>
    /// <exception cref="FormatException">Unknown loss, a key the loss does not take (the message lists those it takes), or a bad value.</exception>
    public static (LossKind Loss, LossSettings Settings) ParseLossSpec(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        int colon = spec.IndexOf(':');
        var loss = ParseLoss(colon < 0 ? spec : spec[..colon]);
        var settings = LossSettings.Default;
        if (colon < 0) return (loss, settings);
        var takes = settings.Keys(loss).Select(k => k.Key).ToList();
        foreach (var part in spec[(colon + 1)..].Split(',', StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=');
            string key = eq < 0 ? part : part[..eq].Trim().ToLowerInvariant();
            string Takes() => takes.Count == 0 ? $"'{Name(loss)}' takes no options" : $"'{Name(loss)}' takes {string.Join(", ", takes.Select(k => k + "="))}";
            if (eq < 0 || key.Length == 0) throw new FormatException($"loss '{spec}': '{part}' is not key=value; {Takes()}");
            if (!double.TryParse(part[(eq + 1)..].Trim(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value))
                throw new FormatException($"loss '{spec}': {key}='{part[(eq + 1)..].Trim()}' is not a number");
            settings = settings.With(loss, key, value) ?? throw new FormatException($"loss '{spec}': unknown key '{key}'; {Takes()}");
            if (LossSettings.Check(key, value) is { } why) throw new FormatException($"loss '{spec}': {key} {why}, got {LossSettings.Format(value)}");
        }
        return (loss, settings);
    }

    /// <summary>The spec of a loss with its settings: the name alone when they are the defaults, else <c>name:key=value,...</c> (the keys that differ).</summary>
    public static string LossSpec(LossKind loss, LossSettings? settings)
    {
        var changed = (settings ?? LossSettings.Default).Keys(loss).Where(k => k.Value != k.Default).Select(k => $"{k.Key}={LossSettings.Format(k.Value)}").ToList();
        return changed.Count == 0 ? Name(loss) : $"{Name(loss)}:{string.Join(",", changed)}";
    }

    /// <summary>The optimizer called <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="FormatException">Unknown name; the message lists the valid ones.</exception>
    public static OptimizerKind ParseOptimizer(string name) => (name ?? throw new ArgumentNullException(nameof(name))).Trim().ToLowerInvariant() switch
    {
        "adam" => OptimizerKind.Adam,
        "adamw" => OptimizerKind.AdamW,
        "sgd" => OptimizerKind.Sgd,
        _ => throw new FormatException($"unknown optimizer '{name}': use {string.Join(", ", Optimizers)}"),
    };

    /// <summary>The short name of a loss (ce, focal, ldam, la).</summary>
    public static string Name(LossKind loss) => loss switch
    {
        LossKind.CrossEntropy => "ce",
        LossKind.Focal => "focal",
        LossKind.Ldam => "ldam",
        LossKind.LogitAdjusted => "la",
        _ => throw new ArgumentOutOfRangeException(nameof(loss), loss, "unknown loss"),
    };

    /// <summary>The name of an optimizer (adam, adamw, sgd).</summary>
    public static string Name(OptimizerKind optimizer) => optimizer switch
    {
        OptimizerKind.Adam => "adam",
        OptimizerKind.AdamW => "adamw",
        OptimizerKind.Sgd => "sgd",
        _ => throw new ArgumentOutOfRangeException(nameof(optimizer), optimizer, "unknown optimizer"),
    };
}
