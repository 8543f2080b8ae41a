using System.CommandLine;

namespace Acwa.Cli.Commands;

/// <summary>
/// <c>acwa bench</c>: parent of the benchmark subcommands. To add one, append its factory to <see cref="Subcommands"/>
/// (or call <see cref="Add"/> on the command returned by <see cref="Create"/>). The benchmarks measure the user's own
/// models and machine; research diagnostics (gradient decompositions, constant weights, device parity, PyTorch side by
/// side, profiler ranges) are in the developer tool, tools/Acwa.DevBench.
/// </summary>
internal static class BenchCommand
{
    /// <summary>Factories of the subcommands <see cref="Create"/> registers, in help order.</summary>
    private static readonly List<Func<Command>> Subcommands =
    [
        BenchMetricsCommand.Create,
        BenchStepCommand.Create,
        BenchTrainCommand.Create,
        BenchEvalCommand.Create,
    ];

    /// <summary>The <c>bench</c> parent command with every registered subcommand.</summary>
    public static Command Create()
    {
        var bench = new Command("bench", "Measure the speed of acwa's kernels and pipelines on this machine.");
        foreach (var f in Subcommands) Add(bench, f());
        return bench;
    }

    /// <summary>Adds a subcommand under <paramref name="bench"/>.</summary>
    public static void Add(Command bench, Command subcommand) => bench.Subcommands.Add(subcommand);

    /// <summary>The <c>--json FILE</c> option every bench command has.</summary>
    public static Option<string?> JsonOption() =>
        new("--json") { Description = "Also write the results as JSON to this file (written whole or not at all; fields in docs/benchmarks.md)." };

    /// <summary>A comma-separated list of models (names or paths), empty entries dropped.</summary>
    public static IReadOnlyList<string> SplitModels(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
