using System.CommandLine;

namespace Acwa.DevBench;

/// <summary>
/// <c>acwa-dev</c>: the developer's benchmarks (docs/benchmarks.md). <c>step</c> and <c>train</c> are the shipped
/// <c>acwa bench step</c> / <c>bench train</c>, same options and timing, plus the research diagnostics the shipped tool
/// leaves out.
/// </summary>
internal static class DevBenchApp
{
    public static RootCommand Build()
    {
        var root = new RootCommand("acwa-dev: developer benchmarks and diagnostics of acwa (gradient decompositions, constant-weight steps, CUDA-vs-CPU parity, PyTorch side by side, CUDA profiler ranges).");
        root.Add(DevStepCommand.Create());
        root.Add(DevTrainCommand.Create());
        root.Add(DevMpiCommand.Create());
        return root;
    }

    private static int Main(string[] args) => Build().Parse(args).Invoke();
}
