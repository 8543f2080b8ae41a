using System.Diagnostics;
using System.Globalization;
using Acwa.Cli.Commands;
using Acwa.Cli.Reporting;
using Acwa.Onnx.Metrics;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Runs;
using Acwa.Onnx.Training.Runtime;
using Spectre.Console;

namespace Acwa.Cli.Training;

/// <summary>
/// <c>acwa train</c>'s presentation of a library <see cref="TrainingRun"/>: progress bars or one line per epoch, the PNG
/// plots, the final per-class table and the summary lines. The run itself (data, artifacts, trainer, run folder) is the
/// library's.
/// </summary>
internal static class TrainRun
{
    /// <summary>
    /// Runs <c>acwa train</c>: 0 when the run finished; after SIGINT or SIGTERM, the checkpoint of the step boundary it stopped
    /// at, a line saying how to resume (<paramref name="commandLine"/>, the arguments after <c>acwa</c>, with <c>--resume</c>)
    /// and <see cref="InterruptSignals.InterruptedExitCode"/> or <see cref="InterruptSignals.TerminatedExitCode"/>;
    /// <see cref="ConsoleOutput.ErrorExitCode"/> on bad input or divergence.
    /// </summary>
    public static int Execute(TrainingRunOptions o, TextWriter output, TextWriter error, bool quiet = true, IReadOnlyList<string>? commandLine = null)
    {
        using var signals = new InterruptSignals();
        try
        {
            Run(o, output, quiet, signals.Token);
            return 0;
        }
        catch (TrainingInterruptedException e)
        {
            error.WriteLine($"{signals.Name}: {e.Message}");
            error.WriteLine($"interrupted; resume with: acwa {ResumeLine(commandLine)}");
            return signals.ExitCode;
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            return ConsoleOutput.Fail(error, OptionHints.Message(e));
        }
    }

    /// <summary>
    /// <c>acwa train --distributed</c>: this process is one rank of the MPI job (docs/distributed.md). Rank 0 prints and
    /// writes; every rank says its rank and pid on standard error. Outcomes every rank reaches together (finished, diverged,
    /// interrupted: decided on all-reduced values) finalize MPI and return the usual exit code on every rank. Any other
    /// failure may be this rank's alone while the others wait in a collective, so it aborts the whole job
    /// (<c>MPI_Abort</c>) with a message naming the rank: every rank exits non-zero at once instead of hanging.
    /// </summary>
    public static int ExecuteDistributed(TrainingRunOptions o, TextWriter output, TextWriter error, bool quiet = true, IReadOnlyList<string>? commandLine = null)
    {
        Acwa.Onnx.Distributed.MpiCommunicator comm;
        try { comm = Acwa.Onnx.Distributed.MpiCommunicator.Initialize(); }
        catch (DllNotFoundException e) { return ConsoleOutput.Fail(error, $"--distributed: {e.Message}"); }
        error.WriteLine($"distributed: rank {comm.Rank} of {comm.Size}, pid {Environment.ProcessId}");
        error.Flush();
        var mine = comm.Rank == 0 ? output : TextWriter.Null;
        int code;
        using var signals = new InterruptSignals();
        // Every rank states what it saw after each epoch (exact values), so that a user or a test can check that all agree.
        void RankLine(object? _, EpochResult r) => error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rank {comm.Rank} of {comm.Size}, epoch {r.Epoch + 1}: train loss {r.TrainLoss:R}, val macro-F1 {r.Validation.MacroF1:R}, val confusion [{string.Join(" ", r.ValidationConfusion.Counts.ToArray())}], next weights [{string.Join(" ", r.NextWeights.Select(w => w.ToString("R", CultureInfo.InvariantCulture)))}]"));
        try
        {
            Run(o with { Communicator = comm }, mine, quiet, signals.Token, run => run.Trainer.EpochCompleted += RankLine);
            code = 0;
        }
        catch (TrainingInterruptedException e)
        {
            if (comm.Rank == 0)
            {
                error.WriteLine($"{(signals.Token.IsCancellationRequested ? signals.Name : "a signal to another rank")}: {e.Message}");
                error.WriteLine($"interrupted; resume with: mpirun -np {comm.Size} acwa {ResumeLine(commandLine)}");
            }
            code = signals.Token.IsCancellationRequested ? signals.ExitCode : InterruptSignals.TerminatedExitCode;
        }
        catch (TrainingDivergedException e)
        {
            if (comm.Rank == 0) ConsoleOutput.Fail(error, e.Message);
            code = ConsoleOutput.ErrorExitCode;
        }
        catch (Exception e)
        {
            comm.Abort(ConsoleOutput.ErrorExitCode, IsUserFacing(e) ? OptionHints.Message(e) : e.ToString());
            throw; // not reached
        }
        comm.Dispose(); // MPI_Finalize: every rank got here
        return code;
    }

    /// <summary>The interrupted command line (the arguments after <c>acwa</c>) with <c>--resume</c>, as one shell line.</summary>
    private static string ResumeLine(IReadOnlyList<string>? commandLine)
    {
        var args = (commandLine ?? ["train"]).ToList();
        if (!args.Contains("--resume")) args.Add("--resume");
        return InterruptSignals.ShellLine(args);
    }

    /// <summary>Failures whose message is meant for the user (bad input, missing data or device, diverged training): printed without a stack trace.</summary>
    internal static bool IsUserFacing(Exception e) =>
        e is ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException
            or FormatException or NotSupportedException or DeviceUnavailableException or TrainingDivergedException;

    /// <summary>Prepares and executes the run, printing progress (bars unless <paramref name="quiet"/> or redirected) and the report.</summary>
    public static TrainingRunResult Run(TrainingRunOptions o, TextWriter output, bool quiet = true, CancellationToken cancellationToken = default, Action<TrainingRun>? prepared = null)
    {
        var console = ConsoleOutput.For(output);
        using var run = TrainingRun.Prepare(o, output);
        prepared?.Invoke(run);
        var result = RunWithProgress(run, quiet, console, cancellationToken);
        Report(run, result, console);
        return result;
    }

    /// <summary>
    /// Prepares and executes the run with no console of its own (what <c>acwa reproduce</c> runs for each method and
    /// seed): each finished epoch goes to <paramref name="onEpoch"/>, and the run folder gets its plots.
    /// </summary>
    public static TrainingRunResult RunQuietly(TrainingRunOptions o, Action<EpochResult> onEpoch, CancellationToken cancellationToken = default)
    {
        using var run = TrainingRun.Prepare(o);
        run.Trainer.EpochCompleted += (_, r) => onEpoch(r);
        var result = run.Execute(cancellationToken);
        WritePlots(run, result);
        return result;
    }

    private static TrainingRunResult RunWithProgress(TrainingRun run, bool quiet, IAnsiConsole console, CancellationToken cancellationToken)
    {
        var trainer = run.Trainer;
        int epochs = run.Options.Epochs, batches = trainer.BatchesPerEpoch;
        string unit = run.IsImages ? "img" : "samples";
        var clock = Stopwatch.StartNew();
        long images = 0;
        void EpochLine(EpochResult r) => console.MarkupLine(Markup.Escape(EpochSummary(r, epochs)));

        if (quiet || !console.Profile.Capabilities.Interactive)
        {
            trainer.EpochCompleted += (_, r) => EpochLine(r);
            return run.Execute(cancellationToken);
        }
        TrainingRunResult? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var epochTask = ctx.AddTask("epochs", maxValue: epochs);
                epochTask.Value = trainer.CompletedEpochs;
                var stepTask = ctx.AddTask("steps", maxValue: batches);
                trainer.StepCompleted += (_, p) =>
                {
                    images += p.BatchSize;
                    stepTask.Value = p.Batch + 1;
                    if (p.Batch % 8 == 0 || p.Batch + 1 == p.BatchesPerEpoch)
                        stepTask.Description = $"epoch {p.Epoch + 1}/{epochs} loss {p.Loss:F4} {images / clock.Elapsed.TotalSeconds:F0} {unit}/s";
                };
                trainer.EpochCompleted += (_, r) =>
                {
                    epochTask.Value = r.Epoch + 1;
                    epochTask.Description = $"epochs (val macro-F1 {r.Validation.MacroF1:F4})";
                    stepTask.Value = 0;
                    EpochLine(r);
                };
                try { result = run.Execute(cancellationToken); }
                catch (TrainingInterruptedException) { ctx.Refresh(); throw; } // the bars as they stood; Spectre shows the cursor again
                epochTask.Value = epochs;
                stepTask.Value = batches;
            });
        return result!;
    }

    private static string EpochSummary(EpochResult r, int epochs) => string.Create(CultureInfo.InvariantCulture,
        $"epoch {r.Epoch + 1}/{epochs}: loss {r.TrainLoss:F4}, train acc {r.TrainAccuracy:F4}, val macro-F1 {r.Validation.MacroF1:F4}, " +
        $"val bal-acc {r.Validation.BalancedAccuracy:F4}{(r.Test is null ? "" : $", test macro-F1 {r.Test.MacroF1:F4}")}, " +
        $"weights [{string.Join(" ", r.NextWeights.Select(w => w.ToString("F3", CultureInfo.InvariantCulture)))}], " +
        $"{r.Timings.Total:F1} s (ACWA overhead {r.Timings.AcwaOverheadFraction:P2})");

    /// <summary>The run folder's PNG plots: validation F1 and class weights per epoch, the test confusion matrix.</summary>
    private static void WritePlots(TrainingRun run, TrainingRunResult result)
    {
        var outDir = result.OutDir;
        var names = run.ClassNames;
        var history = result.History;
        if (history.Count > 0)
        {
            TrainingPlots.PerClassLines(Path.Combine(outDir, "f1_per_class.png"), "Validation F1 per class", "F1", history.Select(h => h.ValidationF1.ToArray()).ToList(), names);
            TrainingPlots.PerClassLines(Path.Combine(outDir, "weights_per_class.png"), "Class weights used in each epoch", "weight", history.Select(h => h.Weights.ToArray()).ToList(), names);
        }
        if (result.Test is { } test && result.TestConfusion is { } cm)
            TrainingPlots.ConfusionHeatmap(Path.Combine(outDir, "confusion_matrix.png"), $"Test confusion matrix (macro-F1 {test.MacroF1:F4})", cm.ToArray(), names);
    }

    /// <summary>The PNG plots, the final per-class table and the summary lines.</summary>
    private static void Report(TrainingRun run, TrainingRunResult result, IAnsiConsole console)
    {
        WritePlots(run, result);
        var history = result.History;
        if (result.Test is { } test)
        {
            static string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);
            var t = new Table().Title("test set, final model").AddColumns("class", "name", "F1", "precision", "recall", "support", "weight");
            foreach (var c in test.Classes)
                t.AddRow(c.Index.ToString(CultureInfo.InvariantCulture), Markup.Escape(c.Name), F(c.F1), F(c.Precision), F(c.Recall),
                    c.Support.ToString(CultureInfo.InvariantCulture), result.FinalWeights[c.Index].ToString("0.000", CultureInfo.InvariantCulture));
            console.Write(t);
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"test: macro-F1 {test.MacroF1:F4}, accuracy {test.Accuracy:F4}, balanced accuracy {test.BalancedAccuracy:F4}, weighted F1 {test.WeightedF1:F4}, ") +
                MinorityText(run, test));
        }
        double overhead = history.Count == 0 ? 0 : history.Average(h => h.AcwaOverheadFraction ?? 0);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{result.Seconds:F1} s for this invocation; mean ACWA overhead {overhead:P3} of an epoch (validation metrics + weight update)"));
        console.WriteLine($"run folder: {result.OutDir} (config.json, metrics.csv/json, weights.csv, checkpoint.acwa, model.onnx, test_report.json, confusion_matrix.csv/png, f1_per_class.png, weights_per_class.png, artifacts/)");
    }

    /// <summary>
    /// The summary's minority part: the mean test F1 of the run's minority classes (<see cref="TrainingRun.MinorityClasses"/>,
    /// chosen from the training counts, or the paper's set under its protocol), named, or that there is none.
    /// </summary>
    internal static string MinorityText(TrainingRun run, ClassificationReport test)
    {
        var minority = run.MinorityClasses;
        if (minority.Count == 0) return $"no minority class ({run.MinorityRule}: none)";
        var names = string.Join(", ", minority.Select(c => c.ToString(CultureInfo.InvariantCulture) == run.ClassNames[c] ? run.ClassNames[c] : $"{c} {run.ClassNames[c]}"));
        return string.Create(CultureInfo.InvariantCulture, $"minority-class F1 {test.MeanF1(minority):F4} (classes {names}: {run.MinorityRule})");
    }
}
