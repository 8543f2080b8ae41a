using Acwa.Onnx.Graphs;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Training.Runtime;

/// <summary>
/// Fixed device tensors for everything a training step reads and writes besides its state: the batch, the labels, the
/// controls and the dropout masks in, the loss and the predictions out. A captured CUDA graph replays the device addresses
/// of its capture, so these must never move (<see cref="StepRunnerOptions.CudaGraph"/>). Before a step, one run of a copy
/// graph (one Identity per tensor, host values bound as inputs, the fixed tensors as outputs) moves every host value in;
/// after it, a second copy run brings the loss and the predictions back. Made for one batch size.
/// </summary>
internal sealed class FixedFeeds : IDisposable
{
    private readonly InferenceSession _in;
    private readonly InferenceSession _out;
    private readonly OrtIoBinding _inBinding;
    private readonly OrtIoBinding _outBinding;
    private readonly RunOptions _runOptions = new();
    private readonly List<OrtValue> _owned = [];

    /// <param name="batchSize">The batch size the tensors hold.</param>
    /// <param name="transfer">Allocates the fixed tensors on the runner's device.</param>
    /// <param name="options">Session options of the two copy sessions (the runner's, without graph capture).</param>
    /// <param name="inputs">Training-graph inputs to hold: name, element type, shape (batch size filled in).</param>
    /// <param name="outputs">Training-graph outputs to hold, same form.</param>
    public FixedFeeds(int batchSize, DeviceTransfer transfer, SessionOptions options,
        IReadOnlyList<(string Name, TensorElementType Type, long[] Shape)> inputs,
        IReadOnlyList<(string Name, TensorElementType Type, long[] Shape)> outputs)
    {
        BatchSize = batchSize;
        try
        {
            Inputs = inputs.Select(i => (i.Name, Alloc(transfer, i.Type, i.Shape))).ToArray();
            Outputs = outputs.Select(o => (o.Name, Alloc(transfer, o.Type, o.Shape))).ToArray();
            _in = new InferenceSession(OnnxModel.ToBytes(OnnxModel.Create(DeviceTransfer.CopyGraph("acwa_feeds_in", inputs.Select(i => i.Type).ToArray()))), options);
            _out = new InferenceSession(OnnxModel.ToBytes(OnnxModel.Create(DeviceTransfer.CopyGraph("acwa_feeds_out", outputs.Select(o => o.Type).ToArray()))), options);
            _inBinding = _in.CreateIoBinding();
            _outBinding = _out.CreateIoBinding();
            for (int i = 0; i < Inputs.Count; i++) _inBinding.BindOutput($"out{i}", Inputs[i].Device);
            for (int i = 0; i < Outputs.Count; i++) _outBinding.BindInput($"in{i}", Outputs[i].Device);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The batch size the tensors were made for.</summary>
    public int BatchSize { get; }

    /// <summary>Training-graph input name -> its fixed device tensor, in the order given.</summary>
    public IReadOnlyList<(string Name, OrtValue Device)> Inputs { get; } = [];

    /// <summary>Training-graph output name -> its fixed device tensor, in the order given.</summary>
    public IReadOnlyList<(string Name, OrtValue Device)> Outputs { get; } = [];

    private OrtValue Alloc(DeviceTransfer transfer, TensorElementType type, long[] shape)
    {
        var v = transfer.Allocate(type, shape);
        _owned.Add(v);
        return v;
    }

    /// <summary>Copies host values (one per <see cref="Inputs"/> entry, same order and element counts) into the fixed tensors.</summary>
    public void Upload(IReadOnlyList<OrtValue> host)
    {
        if (host.Count != Inputs.Count) throw new ArgumentException($"{host.Count} host values for {Inputs.Count} fixed inputs", nameof(host));
        for (int i = 0; i < host.Count; i++) _inBinding.BindInput($"in{i}", host[i]);
        _in.RunWithBinding(_runOptions, _inBinding);
        _inBinding.SynchronizeBoundOutputs();
    }

    /// <summary>Copies the fixed output tensors into host values (one per <see cref="Outputs"/> entry, same order).</summary>
    public void Download(IReadOnlyList<OrtValue> host)
    {
        if (host.Count != Outputs.Count) throw new ArgumentException($"{host.Count} host values for {Outputs.Count} fixed outputs", nameof(host));
        for (int i = 0; i < host.Count; i++) _outBinding.BindOutput($"out{i}", host[i]);
        _out.RunWithBinding(_runOptions, _outBinding);
        _outBinding.SynchronizeBoundOutputs();
    }

    public void Dispose()
    {
        _inBinding?.Dispose();
        _outBinding?.Dispose();
        _in?.Dispose();
        _out?.Dispose();
        foreach (var v in _owned) v.Dispose();
        _runOptions.Dispose();
    }
}
