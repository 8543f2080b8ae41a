using System.Runtime.CompilerServices;
using Spectre.Console;

// The CLI project grants no InternalsVisibleTo to the library's users; tests drive the internal command classes directly.
[assembly: InternalsVisibleTo("Acwa.Onnx.Tests")]

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

    /// <summary>Writes <c>error: message</c> (no stack trace) and returns <see cref="ErrorExitCode"/>.</summary>
    public static int Fail(TextWriter error, string message)
    {
        error.WriteLine($"error: {message}");
        return ErrorExitCode;
    }
}
