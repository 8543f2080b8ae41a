namespace Acwa.Onnx.Training.Runs;

/// <summary>
/// A <see cref="TrainingRunOptions"/> value that cannot be used. <see cref="Option"/> names the property, so that a
/// front end can name its own flag; <see cref="Exception.Message"/> reads "Option: reason".
/// </summary>
public sealed class InvalidOptionException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public InvalidOptionException(string option, string reason, Exception? inner = null) : base($"{option}: {reason}", inner)
    {
        Option = option;
        Reason = reason;
    }

    /// <summary>The option's property name in <see cref="TrainingRunOptions"/> (e.g. "Epochs").</summary>
    public string Option { get; }

    /// <summary>What is wrong with its value.</summary>
    public string Reason { get; }
}
