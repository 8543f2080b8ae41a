using System.Runtime.CompilerServices;
using Spectre.Console;

// Tests drive the internal command classes directly; the developer tool (tools/Acwa.DevBench, not shipped) adds its
// diagnostics to the bench commands through their hooks (BenchStepHooks, BenchTrainHooks).
[assembly: InternalsVisibleTo("Acwa.Onnx.Tests")]
[assembly: InternalsVisibleTo("acwa-dev")]

namespace Acwa.Cli.Commands;

/// <summary>Console helpers shared by commands: a Spectre console over a writer, and uniform error reporting.</summary>
internal static class ConsoleOutput
{
    /// <summary>Exit code for bad input or a failed command (usage errors from the parser keep System.CommandLine's code).</summary>
    public const int ErrorExitCode = 2;

    /// <summary>
    /// A Spectre console writing to <paramref name="writer"/>. On a terminal it wraps at the terminal's width, with colours
    /// where the terminal has them. Anywhere else (a file, a pipe, a test's <see cref="StringWriter"/>) it writes plain text
    /// and never wraps: a line or a table row is one line of the log, however long, so logs stay greppable whatever the
    /// width of the console that started the command (<c>COLUMNS</c> included). Tables are as wide as their content.
    /// </summary>
    public static IAnsiConsole For(TextWriter writer)
    {
        var output = new AnsiConsoleOutput(writer);
        if (output.IsTerminal) return AnsiConsole.Create(new AnsiConsoleSettings { Out = output });
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = output, Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
        });
        console.Profile.Width = int.MaxValue;
        return console;
    }

    /// <summary>
    /// Writes <paramref name="title"/> on its own line, then <paramref name="table"/>. A table's own title is wrapped to the
    /// table's width, even where nothing else wraps; a line before it is not.
    /// </summary>
    public static void WriteTable(this IAnsiConsole console, string title, Table table)
    {
        console.WriteLine(title);
        console.Write(table);
    }

    /// <summary>Writes <c>error: message</c> (no stack trace) and returns <see cref="ErrorExitCode"/>.</summary>
    public static int Fail(TextWriter error, string message)
    {
        error.WriteLine($"error: {message}");
        return ErrorExitCode;
    }
}
