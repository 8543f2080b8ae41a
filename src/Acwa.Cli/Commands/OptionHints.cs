using Acwa.Onnx.Training.Runs;

namespace Acwa.Cli.Commands;

/// <summary>
/// The library's messages name its option properties (<c>ArtifactOptions.InputShape</c>, <c>EvaluatorOptions.Input</c>,
/// <see cref="InvalidOptionException.Option"/> of a <see cref="TrainingRunOptions"/>); the tool shows its own flags instead.
/// </summary>
internal static class OptionHints
{
    private static readonly (string Property, string Flag)[] Map =
    [
        ("ArtifactOptions.Trainable", "--trainable"), ("(Frozen)", "(--frozen)"), ("ArtifactOptions.NumClasses", "--num-classes"),
        ("ArtifactOptions.InputShape", "--input-shape"), ("EvaluatorOptions.Input", "--input"), ("EvaluatorOptions.Output", "--output"),
    ];

    /// <summary>The command-line flag of each <see cref="TrainingRunOptions"/> property, for error messages.</summary>
    private static readonly Dictionary<string, string> TrainingRunFlags = new(StringComparer.Ordinal)
    {
        [nameof(TrainingRunOptions.Dataset)] = "--dataset", [nameof(TrainingRunOptions.Imbalance)] = "--imbalance",
        [nameof(TrainingRunOptions.Model)] = "--model", [nameof(TrainingRunOptions.Loss)] = "--loss", [nameof(TrainingRunOptions.Policy)] = "--policy",
        [nameof(TrainingRunOptions.Optimizer)] = "--optimizer", [nameof(TrainingRunOptions.LearningRate)] = "--lr",
        [nameof(TrainingRunOptions.Schedule)] = "--schedule", [nameof(TrainingRunOptions.Epochs)] = "--epochs", [nameof(TrainingRunOptions.Batch)] = "--batch",
        [nameof(TrainingRunOptions.ValidationFraction)] = "--val-fraction", [nameof(TrainingRunOptions.Threads)] = "--threads",
        [nameof(TrainingRunOptions.CudaGraph)] = "--cuda-graph", [nameof(TrainingRunOptions.Trainable)] = "--trainable",
        [nameof(TrainingRunOptions.ImageSize)] = "--image-size", [nameof(TrainingRunOptions.Frozen)] = "--frozen",
        [nameof(TrainingRunOptions.Device)] = "--device", [nameof(TrainingRunOptions.OutDir)] = "--out", [nameof(TrainingRunOptions.Resume)] = "--resume",
        [nameof(TrainingRunOptions.CheckpointEverySteps)] = "--checkpoint-every", [nameof(TrainingRunOptions.DivergenceFactor)] = "--divergence-factor",
        [nameof(TrainingRunOptions.Feedback)] = "--feedback",
    };

    /// <summary>
    /// An error as the user should read it: an <see cref="InvalidOptionException"/> as "FLAG: reason" with the option
    /// properties its reason names replaced by their flags; any other message through <see cref="WithFlags"/>.
    /// </summary>
    public static string Message(Exception e)
    {
        if (e is not InvalidOptionException io) return WithFlags(e.Message);
        var reason = System.Text.RegularExpressions.Regex.Replace(io.Reason, @"\b[A-Z][A-Za-z]+\b", m => TrainingRunFlags.GetValueOrDefault(m.Value, m.Value));
        return $"{TrainingRunFlags.GetValueOrDefault(io.Option, io.Option)}: {reason}";
    }

    /// <summary><paramref name="message"/> with the library's option names replaced by the tool's flags.</summary>
    public static string WithFlags(string message)
    {
        foreach (var (property, flag) in Map) message = message.Replace(property, flag, StringComparison.Ordinal);
        return message;
    }
}
