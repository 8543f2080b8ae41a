using System.Diagnostics;
using System.Text;

namespace Acwa.Onnx.Tests.Distributed;

/// <summary>
/// Starts <c>mpirun --oversubscribe -np N dotnet DLL ARGS</c> (the DLL next to the test assembly: acwa.dll or acwa-dev.dll),
/// with what Open MPI needs to run as root. Without <c>mpirun</c> the test fails, saying what to install: CI
/// (.ci/run) installs openmpi-bin, so a missing launcher is a broken setup, not a reason to skip.
/// </summary>
internal static class MpiRun
{
    public sealed record Finished(int Code, string Out, string Err, double Seconds);

    public static string Mpirun()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var p = Path.Combine(dir, "mpirun");
            if (File.Exists(p)) return p;
        }
        Assert.Fail("mpirun not found on PATH: the distributed tests need Open MPI. Install it with `apt-get install openmpi-bin libopenmpi-dev` (.ci/run does).");
        return "";
    }

    public static ProcessStartInfo StartInfo(int ranks, string dll, IEnumerable<string> args, IEnumerable<string>? mpirunOptions = null)
    {
        var host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        var psi = new ProcessStartInfo(Mpirun()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in mpirunOptions ?? []) psi.ArgumentList.Add(a);
        foreach (var a in new[] { "--oversubscribe", "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), host, Path.Combine(AppContext.BaseDirectory, dll) }) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        psi.Environment["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"; // containers without CMA/ptrace rights
        return psi;
    }

    /// <summary>Runs to the end (at most <paramref name="timeoutSeconds"/>); <paramref name="onErrLine"/> sees each stderr line as it comes.</summary>
    public static Finished Run(int ranks, string dll, IEnumerable<string> args, int timeoutSeconds = 300, Action<string, Process>? onErrLine = null, IEnumerable<string>? mpirunOptions = null)
    {
        var clock = Stopwatch.StartNew();
        using var proc = Process.Start(StartInfo(ranks, dll, args, mpirunOptions))!;
        var err = new StringBuilder();
        var errDone = Task.Run(() =>
        {
            string? line;
            while ((line = proc.StandardError.ReadLine()) is not null)
            {
                lock (err) err.AppendLine(line);
                onErrLine?.Invoke(line, proc);
            }
        });
        var output = proc.StandardOutput.ReadToEndAsync();
        if (!proc.WaitForExit(timeoutSeconds * 1000))
        {
            proc.Kill(entireProcessTree: true);
            Assert.Fail($"mpirun -np {ranks} did not finish in {timeoutSeconds} s; stderr so far:\n{err}");
        }
        errDone.Wait(10_000);
        return new Finished(proc.ExitCode, output.Result, err.ToString(), clock.Elapsed.TotalSeconds);
    }
}
