using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Tests;

/// <summary>
/// One RunOptions kept alive for the whole test run. A temporary <c>new RunOptions()</c> passed to <c>Run</c> is
/// unreachable once its handle is read, so the finaliser may free the native options while ONNX Runtime still reads them
/// (seen once as "Invalid run log severity level: 606948928").
/// </summary>
internal static class SharedRunOptions
{
    public static RunOptions Default { get; } = new();
}

/// <summary>
/// Trait values. <c>[Trait("Category", TestCategories.Slow)]</c> marks tests that take seconds (whole training runs,
/// packing, benchmarks); a quick run is <c>dotnet test --filter "Category!=Slow"</c>.
/// </summary>
internal static class TestCategories
{
    public const string Slow = "Slow";
}
