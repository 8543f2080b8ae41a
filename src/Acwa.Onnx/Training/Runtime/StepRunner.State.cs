using System.Text.Json.Nodes;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Microsoft.ML.OnnxRuntime.Tensors;
using Acwa.Onnx.IO;

namespace Acwa.Onnx.Training.Runtime;

public sealed partial class StepRunner
{
    /// <summary>Format tag written into checkpoint metadata.</summary>
    public const string CheckpointFormat = "acwa-checkpoint/1";
    private const string ControlPrefix = "control/";

    private int _evalBoundSet = -1;
    private int _evalBoundVersion = -1;

    /// <summary>
    /// Runs the eval graph on <paramref name="batchSize"/> samples with the current parameters and buffers, which are bound
    /// straight from the device-resident state (no copies). Any batch size of 1 or more works. When the eval graph takes
    /// labels (it has an in-graph confusion output), zeros are fed and the confusion output is not computed.
    /// </summary>
    public EvalResult Evaluate(ReadOnlySpan<float> x, int batchSize) => EvaluateOn(x, default, batchSize, withLabels: false);

    /// <summary><see cref="Evaluate(ReadOnlySpan{float}, int)"/> for a model whose input is int64 token ids (<see cref="InputType"/>).</summary>
    public EvalResult Evaluate(ReadOnlySpan<long> ids, int batchSize) => EvaluateOn(ids, default, batchSize, withLabels: false);

    /// <summary>
    /// Like <see cref="Evaluate(ReadOnlySpan{float}, int)"/>, also feeding the labels <paramref name="y"/>; when the eval
    /// graph has an in-graph confusion output (<see cref="ArtifactManifest.EvalConfusionOutput"/>), the result's
    /// <see cref="EvalResult.Confusion"/> holds this batch's C x C counts (rows = true class).
    /// </summary>
    public EvalResult Evaluate(ReadOnlySpan<float> x, ReadOnlySpan<long> y, int batchSize) => EvaluateOn(x, y, batchSize, withLabels: true);

    /// <summary><see cref="Evaluate(ReadOnlySpan{float}, ReadOnlySpan{long}, int)"/> for a model whose input is int64 token ids.</summary>
    public EvalResult Evaluate(ReadOnlySpan<long> ids, ReadOnlySpan<long> y, int batchSize) => EvaluateOn(ids, y, batchSize, withLabels: true);

    private EvalResult EvaluateOn<T>(ReadOnlySpan<T> x, ReadOnlySpan<long> y, int batchSize, bool withLabels) where T : unmanaged
    {
        ThrowIfDisposed();
        CheckBatch(x.Length, InputTypeOf<T>(), batchSize);
        if (withLabels) CheckLabels(y, batchSize, validate: true);
        LoadInput(_evalBatch, x, batchSize);
        return EvaluateCore(y, withLabels);
    }

    private Microsoft.ML.OnnxRuntime.OrtValue? _evalConfusionValue;
    private readonly long[] _evalConfusion = [];
    private long[]? _evalConfusionBuffer;
    private bool _evalConfusionBound;

    /// <summary>The eval run once the batch's input is in the host buffer.</summary>
    private EvalResult EvaluateCore(ReadOnlySpan<long> y, bool withLabels)
    {
        var batch = _evalBatch;
        var b = _evalBinding;
        if (_evalBoundSet != _current)
        {
            foreach (var name in Manifest.EvalStateInputs) b.BindInput(name, StateByName(name).Buffers[_current]);
            _evalBoundSet = _current;
        }
        b.BindInput(Manifest.InputName, batch.X!);
        bool confusion = withLabels && _evalHasConfusion;
        if (_evalTakesLabels)
        {
            if (withLabels) y.CopyTo(batch.YSpan); else batch.YSpan.Clear();
            b.BindInput(Manifest.LabelName, batch.Y!);
        }
        if (_evalBoundVersion != batch.Version || confusion != _evalConfusionBound)
        {
            b.ClearBoundOutputs();
            if (_evalHasLogits) b.BindOutput(Manifest.EvalLogitsOutput, batch.Logits!);
            if (_evalHasPredictions) b.BindOutput(Manifest.PredictionsOutput, batch.Predictions!);
            if (confusion)
            {
                _evalConfusionBuffer ??= new long[NumClasses * NumClasses];
                _evalConfusionValue ??= Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(_evalConfusionBuffer, [NumClasses, NumClasses]);
                b.BindOutput(Manifest.EvalConfusionOutput, _evalConfusionValue);
            }
            _evalConfusionBound = confusion;
            _evalBoundVersion = batch.Version;
        }
        _eval.RunWithBinding(_runOptions, b);
        b.SynchronizeBoundOutputs();
        return new EvalResult(_evalHasLogits ? batch.LogitSpan : [], _evalHasPredictions ? batch.PredictionSpan : [], batch.BatchSize, NumClasses)
        {
            Confusion = confusion ? _evalConfusionBuffer : _evalConfusion,
        };
    }

    private StateSlot StateByName(string name)
    {
        foreach (var s in _state) if (s.Spec.Name == name) return s;
        throw new KeyNotFoundException($"no state tensor named '{name}'");
    }

    /// <summary>Copies the current state (parameters, optimizer state, buffers) to the host, in manifest order, named by <see cref="StateTensor.Name"/>.</summary>
    public List<HostTensor> GetState()
    {
        ThrowIfDisposed();
        var list = new List<HostTensor>(_state.Length);
        foreach (var s in _state) list.Add(_transfer.Download(s.Spec.Name, s.Buffers[_current], s.Spec.Shape, s.Type));
        return list;
    }

    /// <summary>
    /// Replaces the current state with host tensors. Every state tensor of the manifest must be given exactly once, by
    /// name, with its shape and element type; unknown names are an error. <see cref="Step"/> is not changed.
    /// </summary>
    public void SetState(IReadOnlyList<HostTensor> tensors)
    {
        ThrowIfDisposed();
        SetStateCore(tensors, "the given state", allowExtra: false);
    }

    private void SetStateCore(IReadOnlyList<HostTensor> tensors, string source, bool allowExtra)
    {
        var byName = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (!byName.TryAdd(t.Name, t)) throw new InvalidDataException($"{source}: tensor '{t.Name}' appears twice");
        }
        foreach (var s in _state)
        {
            if (!byName.TryGetValue(s.Spec.Name, out var t))
                throw new InvalidDataException($"{source}: state tensor '{s.Spec.Name}' ({s.Spec.Kind}) is missing");
            if (!t.Shape.AsSpan().SequenceEqual(s.Spec.Shape))
                throw new InvalidDataException($"{source}: tensor '{t.Name}' has shape [{string.Join(",", t.Shape)}], the manifest says [{string.Join(",", s.Spec.Shape)}]");
            if ((t.Data is null) == (t.Int64Data is null))
                throw new InvalidDataException($"{source}: tensor '{t.Name}' must hold exactly one of fp32 or int64 data");
            if (t.Length != Tensors.ElementCount(t.Shape))
                throw new InvalidDataException($"{source}: tensor '{t.Name}' has shape [{string.Join(",", t.Shape)}] ({Tensors.ElementCount(t.Shape)} values) but holds {t.Length} values");
            bool isFloat = t.Data is not null;
            if (isFloat != (s.Type == TensorElementType.Float))
                throw new InvalidDataException($"{source}: tensor '{t.Name}' is {(isFloat ? "float32" : "int64")}, the training graph wants {s.Type}");
        }
        if (!allowExtra)
        {
            var known = _state.Select(s => s.Spec.Name).ToHashSet(StringComparer.Ordinal);
            var extra = byName.Keys.Where(k => !known.Contains(k)).ToList();
            if (extra.Count > 0) throw new InvalidDataException($"{source}: tensors {string.Join(", ", extra.Select(e => $"'{e}'"))} are not state tensors of this artifact");
        }
        foreach (var s in _state) _transfer.Upload(byName[s.Spec.Name], s.Buffers[_current]);
    }

    /// <summary>
    /// Writes a checkpoint to <paramref name="path"/> atomically as one <see cref="TensorFile"/>: all state tensors, the
    /// current control values (as <c>control/NAME</c>), and metadata <c>{format, step, micro_step, optimizer, loss, num_classes,
    /// extra}</c>, where <c>extra</c> is <paramref name="extraMeta"/> (the trainer's epoch, RNG, policy state, ...).
    /// </summary>
    public void SaveCheckpoint(string path, JsonObject? extraMeta = null)
    {
        ThrowIfDisposed();
        var tensors = GetState();
        foreach (var c in _controls) tensors.Add(HostTensor.Of(ControlPrefix + c.Spec.Name, c.Spec.Shape, c.Values.ToArray()));
        var meta = new JsonObject
        {
            ["format"] = CheckpointFormat,
            ["step"] = Step,
            ["micro_step"] = MicroStep,
            ["optimizer"] = Manifest.Optimizer,
            ["loss"] = Manifest.Loss,
            ["num_classes"] = Manifest.NumClasses,
            ["extra"] = extraMeta?.DeepClone() ?? new JsonObject(),
        };
        TensorFile.Save(path, tensors, meta);
    }

    /// <summary>
    /// Loads a checkpoint written by <see cref="SaveCheckpoint"/>: state, control values and <see cref="Step"/>. Returns
    /// its <c>extra</c> metadata. A corrupt file (checksum mismatch), a missing tensor or a shape mismatch throws
    /// <see cref="InvalidDataException"/> naming the file, and leaves the runner's state unchanged only in the first case.
    /// </summary>
    public JsonObject LoadCheckpoint(string path)
    {
        ThrowIfDisposed();
        var (tensors, meta) = TensorFile.Load(path);
        var format = meta["format"] is JsonValue fv && fv.TryGetValue<string>(out var f) ? f : meta["format"]?.ToJsonString();
        if (format != CheckpointFormat)
            throw new InvalidDataException($"'{path}' is not an Acwa checkpoint (meta format '{format}', expected '{CheckpointFormat}')");
        if (meta["step"] is not JsonValue stepNode || !stepNode.TryGetValue<long>(out var step) || step < 0)
            throw new InvalidDataException($"'{path}': checkpoint meta has no valid 'step'");
        if (meta["num_classes"] is JsonValue nc && nc.TryGetValue<int>(out var c) && c != NumClasses)
            throw new InvalidDataException($"'{path}': checkpoint is for {c} classes, the artifact has {NumClasses}");
        var state = tensors.Where(t => !t.Name.StartsWith(ControlPrefix, StringComparison.Ordinal)).ToList();
        SetStateCore(state, $"'{path}'", allowExtra: false);
        foreach (var t in tensors.Where(t => t.Name.StartsWith(ControlPrefix, StringComparison.Ordinal)))
        {
            var name = t.Name[ControlPrefix.Length..];
            var slot = _controls.FirstOrDefault(cs => cs.Spec.Name == name);
            if (slot is null || t.Data is null || t.Data.Length != slot.Values.Length) continue; // a control this graph does not have
            t.Data.CopyTo(slot.Values, 0);
            slot.Version++;
        }
        Step = step;
        MicroStep = meta["micro_step"] is JsonValue ms && ms.TryGetValue<long>(out var micro) && micro >= 0 ? micro : step;
        _evalBoundSet = -1;
        return meta["extra"] as JsonObject is { } extra ? (JsonObject)extra.DeepClone() : new JsonObject();
    }

    /// <summary>
    /// Writes the manifest's inference model with the current parameters and buffers baked in: every initializer whose
    /// name is a parameter or buffer of the state is replaced. Every parameter must be an initializer of the inference
    /// model (else <see cref="InvalidDataException"/> naming it); buffers the model does not use are skipped. The result
    /// is a plain ONNX model for any <c>InferenceSession</c>. Saved atomically.
    /// </summary>
    public void ExportInference(string path) => OnnxModel.Save(InferenceModel(), path);

    /// <summary>
    /// The model <see cref="ExportInference"/> writes (the manifest's inference model with the current parameters and
    /// buffers baked in), for callers that add metadata before saving it once.
    /// </summary>
    public ModelProto InferenceModel()
    {
        ThrowIfDisposed();
        var source = Path.Combine(ArtifactDir, Manifest.InferenceModel);
        var model = OnnxModel.Load(source);
        var inits = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < model.Graph.Initializer.Count; i++) inits[model.Graph.Initializer[i].Name] = i;
        var state = GetState();
        for (int i = 0; i < _state.Length; i++)
        {
            var spec = _state[i].Spec;
            if (spec.Kind == StateKind.Optimizer) continue;
            if (!inits.TryGetValue(spec.Name, out var idx))
            {
                if (spec.Kind == StateKind.Parameter)
                    throw new InvalidDataException($"'{source}' has no initializer named '{spec.Name}' for parameter '{spec.Name}'");
                continue;
            }
            var old = model.Graph.Initializer[idx];
            if (!old.Dims.SequenceEqual(spec.Shape))
                throw new InvalidDataException($"'{source}': initializer '{spec.Name}' has shape [{string.Join(",", old.Dims)}], the state has [{string.Join(",", spec.Shape)}]");
            var t = state[i];
            model.Graph.Initializer[idx] = t.Data is not null ? Tensors.Float(spec.Name, spec.Shape, t.Data) : Tensors.Int64(spec.Name, spec.Shape, t.Int64Data!);
        }
        return model;
    }
}
