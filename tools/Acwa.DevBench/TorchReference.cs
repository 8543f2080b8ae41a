using System.Diagnostics;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Acwa.DevBench;

/// <summary>
/// Runs the PyTorch reference script (tools/torch_reference.py) as a child process in the same benchmark run and
/// collects the JSON objects it prints, one per line. A missing interpreter or a failing script is reported on the
/// console and gives fewer (or no) rows: the benchmark's own figures stand without the reference.
/// </summary>
internal static class TorchReference
{
    public static List<JsonObject> Run(string python, string script, string arguments, IAnsiConsole console)
    {
        var list = new List<JsonObject>();
        var args = $"\"{script}\" {arguments}";
        console.WriteLine($"running PyTorch reference: {python} {args}");
        try
        {
            using var p = Process.Start(new ProcessStartInfo(python, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var stderr = p.StandardError.ReadToEndAsync();
            string? line;
            while ((line = p.StandardOutput.ReadLine()) is not null)
            {
                console.WriteLine("  " + line);
                if (line.StartsWith('{') && JsonNode.Parse(line) is JsonObject j) list.Add(j);
            }
            p.WaitForExit();
            if (p.ExitCode != 0) console.WriteLine($"PyTorch reference exited with {p.ExitCode}: {stderr.Result.Trim()}");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            console.WriteLine($"PyTorch reference could not run: {e.Message}");
        }
        return list;
    }
}
