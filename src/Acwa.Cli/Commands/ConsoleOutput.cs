using System.Runtime.CompilerServices;
using Spectre.Console;

// The CLI project grants no InternalsVisibleTo; tests drive the internal command classes directly.
[assembly: InternalsVisibleTo("Acwa.Onnx.Tests")]

namespace Acwa.Cli.Commands;

/// <summary>Console helpers shared by commands: a Spectre console over a writer, and uniform error reporting.</summary>
internal static class ConsoleOutput
{
    /// <summary>Exit code for bad input or a failed command (usage errors from the parser keep System.CommandLine's code).</summary>
    public const int ErrorExitCode = 2;

    /// <summary>A Spectre console writing to <paramref name="writer"/> (plain text when it is not a terminal).</summary>
    public static IAnsiConsole For(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer) });
        if (!console.Profile.Capabilities.Interactive) console.Profile.Width = 140; // redirected: don't wrap tables at 80
        return console;
    }

    /// <summary>Writes <c>error: message</c> (no stack trace) and returns <see cref="ErrorExitCode"/>.</summary>
    public static int Fail(TextWriter error, string message)
    {
        error.WriteLine($"error: {message}");
        return ErrorExitCode;
    }
}
