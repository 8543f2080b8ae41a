using System.Globalization;
using Acwa.Onnx.Training.Runs;

namespace Acwa.Samples.TrainingRunFromCSharp;

/// <summary>
/// What <c>acwa train</c> does, from C#: a <see cref="TrainingRun"/> loads the data (step-imbalanced Fashion-MNIST by
/// default), compiles the model's training graphs, trains with a class-weight policy and writes the run folder
/// (metrics, checkpoint, model.onnx with the trained weights, test report).
/// </summary>
public static class TrainingRunFromCSharpSample
{
    public static int Main()
    {
        Run(new TrainingRunOptions { Model = "cnn", Policy = "acwa-prior", Epochs = 5 }, Console.Out);
        return 0;
    }

    /// <summary>Prepares and executes the run, printing a line per epoch and the test result to <paramref name="output"/>.</summary>
    public static TrainingRunResult Run(TrainingRunOptions options, TextWriter output)
    {
        using var run = TrainingRun.Prepare(options, output);
        run.Trainer.EpochCompleted += (_, e) => output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"epoch {e.Epoch + 1}: val macro-F1 {e.Validation.MacroF1:F4}, next weights [{string.Join(" ", e.NextWeights.Select(w => w.ToString("F2", CultureInfo.InvariantCulture)))}]"));
        var result = run.Execute();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"test macro-F1 {result.Test!.MacroF1:F4}; run folder {result.OutDir}"));
        return result;
    }
}
