using System.Globalization;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>
/// The hyper-parameters of the losses, as a loss spec writes them after its name (<see cref="TrainingNames.ParseLossSpec"/>):
/// <c>focal:gamma=G</c>, <c>ldam:s=S,margin=M</c>, <c>la:tau=T</c>. Each loss reads its own; the defaults are the papers'.
/// </summary>
public sealed record LossSettings
{
    /// <summary>Focal loss exponent gamma (0 = cross-entropy); default 2.</summary>
    public double FocalGamma { get; init; } = 2;

    /// <summary>LDAM's logit scale s; default 30.</summary>
    public double LdamScale { get; init; } = 30;

    /// <summary>LDAM's largest margin (that of the rarest class; margins go as n_c^-1/4); default 0.5.</summary>
    public double LdamMaxMargin { get; init; } = 0.5;

    /// <summary>The logit-adjusted loss's tau (0 = cross-entropy, 1 = balanced softmax); default 1.</summary>
    public double LogitAdjustTau { get; init; } = 1;

    /// <summary>The defaults.</summary>
    public static LossSettings Default { get; } = new();

    /// <summary>The keys a loss takes in its spec, with their current values (those that differ from the defaults first when writing a spec).</summary>
    internal IEnumerable<(string Key, double Value, double Default)> Keys(LossKind loss) => loss switch
    {
        LossKind.Focal => [("gamma", FocalGamma, Default.FocalGamma)],
        LossKind.Ldam => [("s", LdamScale, Default.LdamScale), ("margin", LdamMaxMargin, Default.LdamMaxMargin)],
        LossKind.LogitAdjusted => [("tau", LogitAdjustTau, Default.LogitAdjustTau)],
        _ => [],
    };

    /// <summary>These settings with <paramref name="key"/> of <paramref name="loss"/> set; null when the loss has no such key.</summary>
    internal LossSettings? With(LossKind loss, string key, double value) => (loss, key) switch
    {
        (LossKind.Focal, "gamma") => this with { FocalGamma = value },
        (LossKind.Ldam, "s") => this with { LdamScale = value },
        (LossKind.Ldam, "margin") => this with { LdamMaxMargin = value },
        (LossKind.LogitAdjusted, "tau") => this with { LogitAdjustTau = value },
        _ => null,
    };

    /// <summary>Why a value cannot be used, or null.</summary>
    internal static string? Check(string key, double value) => key switch
    {
        _ when !double.IsFinite(value) => "must be a finite number",
        "gamma" or "tau" when value < 0 => "must be 0 or more",
        "s" or "margin" when value <= 0 => "must be positive",
        _ => null,
    };

    internal static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
