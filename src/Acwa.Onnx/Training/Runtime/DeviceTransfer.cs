using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Training.Runtime;

/// <summary>
/// Allocates tensors on the execution device and copies between them and host arrays. On the CPU the device tensors are
/// host memory and copies are span copies. On CUDA they are allocated with the session's device allocator and copied by
/// running a one-node Identity graph on the device through IOBinding (host value in, device value out, or the reverse),
/// which needs nothing beyond what the training session itself needs.
/// </summary>
internal sealed class DeviceTransfer : IDisposable
{
    private readonly Device _device;
    private readonly OrtAllocator? _deviceAllocator;
    private readonly OrtMemoryInfo? _deviceMemory;
    private readonly InferenceSession? _copySession;
    private readonly OrtIoBinding? _copyBinding;
    private readonly RunOptions _runOptions = new();

    public DeviceTransfer(Device device, InferenceSession owner, SessionOptions options)
    {
        _device = device;
        if (!device.IsCuda) return;
        try
        {
            _deviceMemory = new OrtMemoryInfo("Cuda", OrtAllocatorType.DeviceAllocator, device.Index, OrtMemType.Default);
            _deviceAllocator = new OrtAllocator(owner, _deviceMemory);
            _copySession = new InferenceSession(OnnxModel.ToBytes(OnnxModel.Create(CopyGraph("acwa_device_copy", [TensorElementType.Float, TensorElementType.Int64]))), options);
            _copyBinding = _copySession.CreateIoBinding();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>A graph with inputs in0..inK-1 of the given element types (any shape), each copied by an Identity to outI.</summary>
    internal static GraphProto CopyGraph(string name, IReadOnlyList<TensorElementType> types)
    {
        var g = new GraphProto { Name = name };
        for (int i = 0; i < types.Count; i++)
        {
            // TensorElementType's values are the ONNX TensorProto.DataType numbers.
            var type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)types[i] } };
            g.Input.Add(new ValueInfoProto { Name = $"in{i}", Type = type });
            g.Node.Add(new NodeProto { OpType = "Identity", Name = $"copy{i}", Input = { $"in{i}" }, Output = { $"out{i}" } });
            g.Output.Add(new ValueInfoProto { Name = $"out{i}", Type = type.Clone() });
        }
        return g;
    }

    /// <summary>A zero-filled tensor on the device.</summary>
    public OrtValue Allocate(TensorElementType type, long[] shape)
    {
        var v = OrtValue.CreateAllocatedTensorValue(_deviceAllocator ?? OrtAllocator.DefaultInstance, type, shape);
        if (!_device.IsCuda)
        {
            if (type == TensorElementType.Float) v.GetTensorMutableDataAsSpan<float>().Clear();
            else if (type == TensorElementType.Int64) v.GetTensorMutableDataAsSpan<long>().Clear();
        }
        return v;
    }

    /// <summary>Copies host values into a device tensor of the same element count.</summary>
    public void Upload(HostTensor src, OrtValue dst)
    {
        if (!_device.IsCuda)
        {
            if (src.Data is not null) src.Data.AsSpan().CopyTo(dst.GetTensorMutableDataAsSpan<float>());
            else src.Int64Data!.AsSpan().CopyTo(dst.GetTensorMutableDataAsSpan<long>());
            return;
        }
        using var host = src.ToOrtValue();
        Copy(host, dst, src.Data is not null);
    }

    /// <summary>Copies a device tensor to a new host tensor.</summary>
    public HostTensor Download(string name, OrtValue src, long[] shape, TensorElementType type)
    {
        long n = Tensors.ElementCount(shape);
        if (type == TensorElementType.Float)
        {
            var data = new float[n];
            if (!_device.IsCuda) src.GetTensorDataAsSpan<float>().CopyTo(data);
            else { using var host = OrtValue.CreateTensorValueFromMemory(data, shape); Copy(src, host, true); }
            return HostTensor.Of(name, (long[])shape.Clone(), data);
        }
        var longs = new long[n];
        if (!_device.IsCuda) src.GetTensorDataAsSpan<long>().CopyTo(longs);
        else { using var host = OrtValue.CreateTensorValueFromMemory(longs, shape); Copy(src, host, false); }
        return HostTensor.OfInt64(name, (long[])shape.Clone(), longs);
    }

    private void Copy(OrtValue from, OrtValue to, bool isFloat)
    {
        var b = _copyBinding!;
        b.ClearBoundInputs();
        b.ClearBoundOutputs();
        // Both inputs must be bound; the unused one gets a 1-element dummy, its output is not fetched.
        using var dummyF = OrtValue.CreateTensorValueFromMemory(new float[1], [1]);
        using var dummyL = OrtValue.CreateTensorValueFromMemory(new long[1], [1]);
        b.BindInput("in0", isFloat ? from : dummyF);
        b.BindInput("in1", isFloat ? dummyL : from);
        b.BindOutput(isFloat ? "out0" : "out1", to);
        _copySession!.RunWithBinding(_runOptions, b);
        b.SynchronizeBoundOutputs();
        b.ClearBoundInputs();
        b.ClearBoundOutputs();
    }

    public void Dispose()
    {
        _copyBinding?.Dispose();
        _copySession?.Dispose();
        _deviceAllocator?.Dispose();
        _deviceMemory?.Dispose();
        _runOptions.Dispose();
    }
}
