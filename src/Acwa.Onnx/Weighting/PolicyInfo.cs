namespace Acwa.Onnx.Weighting;

/// <summary>One entry of <see cref="PolicyFactory.Policies"/>, for <c>--help</c> listings.</summary>
/// <param name="Name">Spec name, e.g. <c>acwa</c>.</param>
/// <param name="Description">One line saying what the policy does.</param>
/// <param name="Options">Option keys with their defaults, e.g. <c>alpha=0.02, beta=0.9</c> (empty when none).</param>
public sealed record PolicyInfo(string Name, string Description, string Options)
{
    /// <summary><c>name  description [options]</c> on one line.</summary>
    public override string ToString() => Options.Length == 0 ? $"{Name}: {Description}" : $"{Name}: {Description} [{Options}]";
}
