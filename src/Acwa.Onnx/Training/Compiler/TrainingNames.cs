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
