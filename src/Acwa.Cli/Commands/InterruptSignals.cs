using System.Runtime.InteropServices;

namespace Acwa.Cli.Commands;

/// <summary>
/// SIGINT (Ctrl-C) and SIGTERM (what Slurm and Kubernetes send before a kill) turned into a cancellation: the first one
/// cancels <see cref="Token"/> and keeps the process alive so the command can stop at a step boundary, write its checkpoint
/// and say how to resume; a second one terminates at once (the terminal's cursor is shown again first).
/// </summary>
internal sealed class InterruptSignals : IDisposable
{
    /// <summary>Exit code after SIGINT: 128 + 2, as shells report a Ctrl-C.</summary>
    public const int InterruptedExitCode = 130;

    /// <summary>Exit code after SIGTERM: 128 + 15. A scheduler's requeue (or a retry loop) resumes the run.</summary>
    public const int TerminatedExitCode = 143;

    private readonly CancellationTokenSource _cts = new();
    private readonly PosixSignalRegistration[] _registrations;
    private int _received;

    public InterruptSignals()
    {
        _registrations = [Register(PosixSignal.SIGINT), Register(PosixSignal.SIGTERM)];
    }

    /// <summary>Cancelled by the first SIGINT or SIGTERM.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>The first signal received, or null.</summary>
    public PosixSignal? Received => _received == 0 ? null : (PosixSignal)_received;

    /// <summary>The exit code for the signal received (SIGINT 130, SIGTERM 143).</summary>
    public int ExitCode => Received == PosixSignal.SIGTERM ? TerminatedExitCode : InterruptedExitCode;

    /// <summary>The name of the signal received, e.g. "SIGINT".</summary>
    public string Name => Received == PosixSignal.SIGTERM ? "SIGTERM" : "SIGINT";

    private PosixSignalRegistration Register(PosixSignal signal) => PosixSignalRegistration.Create(signal, context =>
    {
        if (Interlocked.CompareExchange(ref _received, (int)signal, 0) == 0)
        {
            context.Cancel = true; // keep running until the step boundary
            _cts.Cancel();
            return;
        }
        if (!Console.IsOutputRedirected) Console.Out.Write("\u001b[?25h"); // a second signal: show the cursor, then the default action
    });

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _cts.Dispose();
    }

    /// <summary>A command line as one shell line (arguments with characters a shell treats specially are single-quoted).</summary>
    public static string ShellLine(IEnumerable<string> args) => string.Join(' ', args.Select(Quote));

    private static string Quote(string a) =>
        a.Length > 0 && a.All(ch => char.IsAsciiLetterOrDigit(ch) || "_-./:=,@+%".Contains(ch)) ? a : "'" + a.Replace("'", "'\\''") + "'";
}
