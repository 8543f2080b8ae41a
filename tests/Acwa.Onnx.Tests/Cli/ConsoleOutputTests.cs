using Acwa.Cli.Commands;
using Spectre.Console;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>Output that is not a terminal is plain text and never wrapped, whatever the console's width.</summary>
public class ConsoleOutputTests
{
    [Fact]
    public void RedirectedOutputKeepsLongLinesAndTableRowsOnOneLineWithoutEscapes()
    {
        var path = "/" + string.Join("/", Enumerable.Range(0, 60).Select(i => $"directory{i}")) + "/model.onnx"; // ~720 characters
        var line = string.Join(" ", Enumerable.Range(0, 200).Select(i => $"word{i}"));
        var writer = new StringWriter();
        var console = ConsoleOutput.For(writer);
        Assert.False(console.Profile.Out.IsTerminal);
        console.WriteLine(line);
        console.MarkupLine("[bold]" + Markup.Escape(path) + "[/]: done");
        console.Write(new Table().Title("a table").AddColumns("model", "ms").AddRow(path, "1.5"));
        var title = "a title much longer than its table: " + line;
        console.WriteTable(title, new Table().AddColumns("a", "b").AddRow("1", "2"));
        var lines = writer.ToString().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Contains(line, lines);
        Assert.Contains(path + ": done", lines);
        Assert.Contains(title, lines);
        var row = Assert.Single(lines, l => l.Contains(path, StringComparison.Ordinal) && l.Contains("1.5", StringComparison.Ordinal));
        Assert.Equal(["model", "ms"], lines.Single(l => l.Contains("│ model ", StringComparison.Ordinal)).Split('│', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal([path, "1.5"], row.Split('│', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain('\u001b', writer.ToString()); // no ANSI colours or styles in a log
        // The table is as wide as its content, not as wide as the (unlimited) console.
        var table = lines.Where(l => l.Contains('│') || l.Contains('─')).ToList();
        Assert.All(table, l => Assert.True(l.Length < path.Length + 20, $"table line of {l.Length} characters"));
    }
}
