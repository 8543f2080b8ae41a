using System.CommandLine;
using Acwa.DevBench;

namespace Acwa.Onnx.Tests.DevBench;

/// <summary>Runs the real <c>acwa-dev</c> command tree in process with captured output.</summary>
internal static class DevBenchRun
{
    /// <summary>Parses and invokes <paramref name="args"/>; returns the exit code, standard output and standard error.</summary>
    public static (int Code, string Out, string Err) Invoke(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = DevBenchApp.Build().Parse(args).Invoke(new InvocationConfiguration { Output = o, Error = e });
        return (code, o.ToString(), e.ToString());
    }
}
