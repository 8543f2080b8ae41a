namespace Acwa.Cli.Commands;

/// <summary>
/// The library's messages name its option properties (<c>ArtifactOptions.InputShape</c>, <c>EvaluatorOptions.Input</c>);
/// the tool shows its own flags instead.
/// </summary>
internal static class OptionHints
{
    private static readonly (string Property, string Flag)[] Map =
    [
        ("ArtifactOptions.Trainable", "--trainable"), ("(Frozen)", "(--frozen)"), ("ArtifactOptions.NumClasses", "--num-classes"),
        ("ArtifactOptions.InputShape", "--input-shape"), ("EvaluatorOptions.Input", "--input"), ("EvaluatorOptions.Output", "--output"),
    ];

    /// <summary><paramref name="message"/> with the library's option names replaced by the tool's flags.</summary>
    public static string WithFlags(string message)
    {
        foreach (var (property, flag) in Map) message = message.Replace(property, flag, StringComparison.Ordinal);
        return message;
    }
}
