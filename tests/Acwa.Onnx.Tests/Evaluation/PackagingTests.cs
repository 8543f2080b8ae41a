using System.Diagnostics;

namespace Acwa.Onnx.Tests.Evaluation;

public class PackagingTests
{
    /// <summary>
    /// Runs tools/pack-smoke.sh: pack library + tool into a local feed, consume the library from a fresh console project,
    /// install the tool with --tool-path and run `acwa --help` and `acwa metrics`. Slow (about 2-3 minutes).
    /// </summary>
    [Trait("Category", TestCategories.Slow)]
    [Fact(Timeout = 15 * 60 * 1000)]
    [Trait("Category", "Packaging")]
    public async Task PackSmokeScriptSucceeds()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Acwa.Onnx.sln"))) root = root.Parent;
        Assert.NotNull(root);
        var psi = new ProcessStartInfo("bash", [Path.Combine(root.FullName, "tools", "pack-smoke.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = root.FullName,
        };
        // The test host's MSBuild variables would leak into the child builds.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k == "DOTNET_HOST_PATH").ToList())
            psi.Environment.Remove(key);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        string log = await stdout + "\n--- stderr ---\n" + await stderr;
        Assert.True(p.ExitCode == 0, $"pack-smoke.sh exited with {p.ExitCode}:\n{log}");
        Assert.Contains("pack-smoke: OK", log);
        Assert.Contains("macro F1 0.6556", log);
    }
}
