using System.Runtime.CompilerServices;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Tests.Training.Runtime;

/// <summary>Finds out once whether a CUDA device is usable here, by creating a real CUDA session (CPU fallback disabled).</summary>
internal static class CudaProbe
{
    private static readonly Lazy<string?> Failure = new(Probe);

    /// <summary>Null when cuda:0 works; else why not (the runtime's own explanation).</summary>
    public static string? Unavailable => Failure.Value;

    /// <summary>
    /// The skip reason, and a display name that carries it: `dotnet test` at its default (minimal) verbosity prints a skipped
    /// test's name but not its reason, so the reason rides in the name (class and method, as the file and member it is on).
    /// </summary>
    public static (string Skip, string DisplayName) Skipped(string why, string test, string file)
    {
        var reason = "no usable CUDA device: " + why;
        return (reason, $"{Path.GetFileNameWithoutExtension(file)}.{test} (skipped, {reason})");
    }

    private static string? Probe()
    {
        try
        {
            using var o = SessionOptionsFactory.Create(Device.Cuda(0));
            var b = new GraphBuilder("probe");
            var x = b.Input("x", ElementType.Float, 2);
            b.OutputAs(b.Op("Relu", [x]), "y", ElementType.Float, 2);
            using var s = new InferenceSession(OnnxModel.ToBytes(OnnxModel.Create(b.Graph)), o);
            return null;
        }
        catch (DeviceUnavailableException e) { return e.Message; }
        catch (OnnxRuntimeException e) { return SessionOptionsFactory.Explain(Device.Cuda(0), e, "creating a probe session").Message; }
    }
}

/// <summary>A test that needs a CUDA device; skipped with the reason when none is usable. When CUDA is usable it runs and must pass.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute([CallerMemberName] string test = "", [CallerFilePath] string file = "")
    {
        if (CudaProbe.Unavailable is { } why) (Skip, DisplayName) = CudaProbe.Skipped(why, test, file);
    }
}

/// <summary>A theory that needs a CUDA device; skipped with the reason when none is usable.</summary>
public sealed class CudaTheoryAttribute : TheoryAttribute
{
    public CudaTheoryAttribute([CallerMemberName] string test = "", [CallerFilePath] string file = "")
    {
        if (CudaProbe.Unavailable is { } why) (Skip, DisplayName) = CudaProbe.Skipped(why, test, file);
    }
}

/// <summary>A test of the no-CUDA error path; skipped when CUDA is usable.</summary>
public sealed class NoCudaFactAttribute : FactAttribute
{
    public NoCudaFactAttribute()
    {
        if (CudaProbe.Unavailable is null) Skip = "a CUDA device is usable here";
    }
}
