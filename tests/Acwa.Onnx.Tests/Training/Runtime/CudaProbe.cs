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
    public CudaFactAttribute()
    {
        if (CudaProbe.Unavailable is { } why) Skip = "no usable CUDA device: " + why;
    }
}

/// <summary>A theory that needs a CUDA device; skipped with the reason when none is usable.</summary>
public sealed class CudaTheoryAttribute : TheoryAttribute
{
    public CudaTheoryAttribute()
    {
        if (CudaProbe.Unavailable is { } why) Skip = "no usable CUDA device: " + why;
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
