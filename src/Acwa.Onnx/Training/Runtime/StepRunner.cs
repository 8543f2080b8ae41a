using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Acwa.Onnx.IO;

namespace Acwa.Onnx.Training.Runtime;

/// <summary>
/// Runs an artifact set (see <see cref="ArtifactManifest"/>) on one device: training steps, evaluation, state transfer,
/// checkpoints and inference export.
/// </summary>
/// <remarks>
/// <para>Parameters, optimizer state and buffers stay on the device as <see cref="OrtValue"/>s in two buffer sets. A
/// step binds set A as the training graph's state inputs and set B as its state outputs; the next step binds the reverse
/// ("ping-pong"), through two <see cref="OrtIoBinding"/>s prepared once. Per step only the batch (x, y) crosses to the
/// device and only the scalar loss and the per-sample predictions come back. Control inputs (learning rate, Adam bias
/// corrections, class weights, loss knobs) are small host tensors, rebound only after they change.</para>
/// <para>Not thread-safe: one caller at a time.</para>
/// </remarks>
public sealed partial class StepRunner : IDisposable
{
    private readonly SessionOptions _options;
    private readonly bool _ownsOptions;
    private readonly SessionOptions? _graphOptions; // the training session's options with enable_cuda_graph (owned)
    private readonly InferenceSession _train;
    private readonly InferenceSession _eval;
    private readonly DeviceTransfer _transfer;
    private readonly RunOptions _runOptions = new();
    private readonly OrtIoBinding[] _trainBindings = new OrtIoBinding[2];
    private readonly OrtIoBinding _evalBinding;
    private readonly StateSlot[] _state;
    private readonly ControlSlot[] _controls;
    private readonly StepRunnerOptions _runnerOptions;
    private readonly string _manifestPath;
    private readonly long _sampleSize;
    private readonly bool _trainHasPredictions;
    private readonly bool _evalHasLogits;
    private readonly bool _evalHasPredictions;
    private readonly bool _evalTakesLabels;
    private readonly bool _evalHasConfusion;
    private readonly HostBatch _trainBatch;
    private readonly HostBatch _evalBatch;
    private readonly MaskSlot[] _masks;
    private readonly double _beta1, _beta2;
    private readonly int _accumulation;
    private int _current; // index of the buffer set holding the current state
    private bool _disposed;

    /// <summary>
    /// Opens the artifact folder <paramref name="artifactDir"/> (its <c>manifest.json</c>, graphs and initial state, or
    /// <see cref="StepRunnerOptions.CheckpointPath"/>). Errors name the file and the manifest field or graph input/output
    /// that does not match; a CUDA device that cannot be used gives a <see cref="DeviceUnavailableException"/>.
    /// </summary>
    public StepRunner(string artifactDir, StepRunnerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(artifactDir);
        _runnerOptions = options ?? new StepRunnerOptions();
        ArtifactDir = Path.GetFullPath(artifactDir);
        _manifestPath = Path.Combine(ArtifactDir, "manifest.json");
        if (!File.Exists(_manifestPath)) throw new FileNotFoundException($"artifact folder '{ArtifactDir}' has no manifest.json", _manifestPath);
        Manifest = ArtifactManifest.Load(_manifestPath);
        Device = _runnerOptions.Device;
        if (Manifest.NumClasses < 1) throw new InvalidDataException($"'{_manifestPath}': num_classes is {Manifest.NumClasses}, must be 1 or more");

        _ownsOptions = _runnerOptions.SessionOptions is null;
        if (_runnerOptions.CudaGraph && !Device.IsCuda)
            throw new ArgumentException($"StepRunnerOptions.CudaGraph needs a CUDA device, not '{Device}'", nameof(options));
        if (_runnerOptions.CudaGraph && _runnerOptions.SessionOptions is not null)
            throw new ArgumentException("StepRunnerOptions.CudaGraph needs runner-built session options (SessionOptions null): the training session's CUDA provider must be created with enable_cuda_graph", nameof(options));
        _options = _runnerOptions.SessionOptions ?? SessionOptionsFactory.Create(Device, _runnerOptions.IntraOpThreads, _runnerOptions.AllowCpuFallback, _runnerOptions.CudaTf32);
        var built = new List<IDisposable>();
        try
        {
            if (_runnerOptions.CudaGraph)
            {
                _graphOptions = SessionOptionsFactory.Create(Device, _runnerOptions.IntraOpThreads, _runnerOptions.AllowCpuFallback, _runnerOptions.CudaTf32, cudaGraph: true);
                built.Add(_graphOptions);
            }
            _train = OpenSession(Manifest.TrainingModel, "training_model", _graphOptions);
            built.Add(_train);
            _eval = OpenSession(Manifest.EvalModel, "eval_model");
            built.Add(_eval);
            try { _transfer = new DeviceTransfer(Device, _train, _options); }
            catch (OnnxRuntimeException e) when (Device.IsCuda)
            {
                throw new InvalidOperationException($"cannot allocate state on '{Device}': the training session has no CUDA allocator; "
                    + "when passing your own SessionOptions, append the CUDA execution provider for that device or set StepRunnerOptions.Device to cpu. "
                    + $"ONNX Runtime said: {e.Message}", e);
            }
            built.Add(_transfer);

            _sampleSize = ComputeSampleSize();
            _trainBatch = new HostBatch(_sampleSize, InputShape, Manifest.NumClasses, InputType == TensorElementType.Int64);
            built.Add(_trainBatch);
            _evalBatch = new HostBatch(_sampleSize, InputShape, Manifest.NumClasses, InputType == TensorElementType.Int64);
            built.Add(_evalBatch);
            _state = BuildState(built);
            _controls = BuildControls(built);
            _masks = BuildMasks();
            _beta1 = Manifest.Hyperparameters.TryGetValue("beta1", out var b1) ? b1 : _runnerOptions.AdamBeta1;
            _beta2 = Manifest.Hyperparameters.TryGetValue("beta2", out var b2) ? b2 : _runnerOptions.AdamBeta2;
            double acc = Manifest.Hyperparameters.GetValueOrDefault("accumulation_steps", 1);
            if (acc < 1 || acc != Math.Floor(acc) || acc > int.MaxValue)
                throw new InvalidDataException($"'{_manifestPath}': hyperparameters.accumulation_steps is {acc}, must be a whole number 1 or more");
            _accumulation = (int)acc;
            ValidateTrainingGraph();
            _trainHasPredictions = Manifest.PredictionsOutput.Length > 0 && _train.OutputMetadata.ContainsKey(Manifest.PredictionsOutput);
            _evalHasLogits = Manifest.EvalLogitsOutput.Length > 0 && _eval.OutputMetadata.ContainsKey(Manifest.EvalLogitsOutput);
            _evalHasPredictions = Manifest.PredictionsOutput.Length > 0 && _eval.OutputMetadata.ContainsKey(Manifest.PredictionsOutput);
            if (!_evalHasLogits && !_evalHasPredictions)
                throw new InvalidDataException($"'{_manifestPath}': eval model '{Manifest.EvalModel}' has neither the logits output '{Manifest.EvalLogitsOutput}' nor the predictions output '{Manifest.PredictionsOutput}'");
            _evalTakesLabels = _eval.InputMetadata.ContainsKey(Manifest.LabelName);
            _evalHasConfusion = Manifest.EvalConfusionOutput.Length > 0 && _eval.OutputMetadata.ContainsKey(Manifest.EvalConfusionOutput);
            ValidateEvalGraph();

            for (int k = 0; k < 2; k++)
            {
                var b = _train.CreateIoBinding();
                built.Add(b);
                _trainBindings[k] = b;
                foreach (var s in _state)
                {
                    b.BindInput(s.Spec.Input, s.Buffers[k]);
                    b.BindOutput(s.Spec.Output, s.Buffers[1 - k]);
                }
            }
            _evalBinding = _eval.CreateIoBinding();
            built.Add(_evalBinding);
            InitSplit(built);

            if (_runnerOptions.CheckpointPath is { } ckpt) LoadCheckpoint(ckpt);
            else
            {
                var initial = Path.Combine(ArtifactDir, Manifest.InitialState);
                var (tensors, _) = TensorFile.Load(initial);
                SetStateCore(tensors, initial, allowExtra: false);
            }
        }
        catch
        {
            for (int i = built.Count - 1; i >= 0; i--) built[i].Dispose();
            _runOptions.Dispose();
            foreach (var r in _graphRunOptions) r.Dispose();
            if (_ownsOptions) _options.Dispose();
            throw;
        }
    }

    /// <summary>The artifact folder (full path).</summary>
    public string ArtifactDir { get; }

    /// <summary>The artifact manifest.</summary>
    public ArtifactManifest Manifest { get; }

    /// <summary>The device the state lives on.</summary>
    public Device Device { get; }

    /// <summary>
    /// Number of optimizer steps taken so far (restored from checkpoints). Adam's bias corrections use <c>Step + 1</c>.
    /// Equal to <see cref="MicroStep"/> unless the artifact accumulates gradients (<c>hyperparameters.accumulation_steps</c>
    /// k &gt; 1), where every k-th run is an optimizer step.
    /// </summary>
    public long Step { get; private set; }

    /// <summary>Number of training-graph runs (TrainStep calls) so far, restored from checkpoints.</summary>
    public long MicroStep { get; private set; }

    /// <summary>Seed of the Dropout keep masks (<see cref="StepRunnerOptions.DropoutSeed"/>).</summary>
    public ulong DropoutSeed => _runnerOptions.DropoutSeed;

    /// <summary>Runs per optimizer step (the manifest's <c>accumulation_steps</c>, 1 without accumulation).</summary>
    public int AccumulationSteps => _accumulation;

    /// <summary>Number of classes C.</summary>
    public int NumClasses => Manifest.NumClasses;

    /// <summary>Number of input values per sample (the product of the input shape's non-batch dimensions).</summary>
    public long SampleSize => _sampleSize;

    private InferenceSession OpenSession(string file, string what, SessionOptions? options = null)
    {
        var path = Path.Combine(ArtifactDir, file);
        if (!File.Exists(path)) throw new FileNotFoundException($"'{_manifestPath}': {what} '{path}' does not exist", path);
        try { return new InferenceSession(path, options ?? _options); }
        catch (OnnxRuntimeException e) when (Device.IsCuda)
        {
            throw SessionOptionsFactory.Explain(Device, e, $"creating the {what} session from '{path}'");
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"'{path}' ({what}) could not be loaded by ONNX Runtime: {e.Message}", e);
        }
    }

    private long ComputeSampleSize()
    {
        if (!_train.InputMetadata.TryGetValue(Manifest.InputName, out var meta))
            throw new InvalidDataException($"'{_manifestPath}': input_name '{Manifest.InputName}' is not an input of '{Manifest.TrainingModel}' (inputs: {string.Join(", ", _train.InputMetadata.Keys)})");
        if (meta.ElementDataType is not (TensorElementType.Float or TensorElementType.Int64))
            throw new InvalidDataException($"'{Manifest.TrainingModel}': input '{Manifest.InputName}' is {meta.ElementDataType}, the runtime feeds float32 (features, images) or int64 (token ids)");
        InputType = meta.ElementDataType;
        var dims = Manifest.InputShape.Length > 0 ? Manifest.InputShape : meta.Dimensions.Select(d => (long)d).ToArray();
        if (dims.Length < 1) throw new InvalidDataException($"'{_manifestPath}': input_shape is empty and '{Manifest.InputName}' has no shape in the graph");
        long n = 1;
        for (int i = 1; i < dims.Length; i++)
        {
            if (dims[i] <= 0) throw new InvalidDataException($"'{_manifestPath}': input_shape [{string.Join(",", dims)}] has a non-positive dimension at index {i}; only the batch dimension (index 0) may be dynamic");
            n *= dims[i];
        }
        InputShape = dims;
        return n;
    }

    private long[] InputShape { get; set; } = [];

    /// <summary>
    /// Element type of the model's input: <see cref="TensorElementType.Float"/> (features, images: fed by
    /// <see cref="TrainStep(ReadOnlySpan{float}, ReadOnlySpan{long}, int)"/>) or <see cref="TensorElementType.Int64"/>
    /// (token ids, e.g. a text classifier's embedding lookup: fed by
    /// <see cref="TrainStep(ReadOnlySpan{long}, ReadOnlySpan{long}, int)"/>).
    /// </summary>
    public TensorElementType InputType { get; private set; } = TensorElementType.Float;

    private StateSlot[] BuildState(List<IDisposable> built)
    {
        if (Manifest.State.Count == 0) throw new InvalidDataException($"'{_manifestPath}': state is empty");
        var slots = new StateSlot[Manifest.State.Count];
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < slots.Length; i++)
        {
            var s = Manifest.State[i];
            if (!names.Add(s.Name)) throw new InvalidDataException($"'{_manifestPath}': state[{i}] name '{s.Name}' appears twice");
            if (!_train.InputMetadata.TryGetValue(s.Input, out var meta))
                throw new InvalidDataException($"'{_manifestPath}': state[{i}] '{s.Name}' names input '{s.Input}', which '{Manifest.TrainingModel}' does not have");
            if (!_train.OutputMetadata.ContainsKey(s.Output))
                throw new InvalidDataException($"'{_manifestPath}': state[{i}] '{s.Name}' names output '{s.Output}', which '{Manifest.TrainingModel}' does not have");
            if (meta.ElementDataType is not (TensorElementType.Float or TensorElementType.Int64))
                throw new InvalidDataException($"'{Manifest.TrainingModel}': state input '{s.Input}' is {meta.ElementDataType}; state must be float32 or int64");
            var gdims = meta.Dimensions;
            if (gdims.Length != s.Shape.Length || gdims.Where((d, j) => d >= 0 && d != s.Shape[j]).Any())
                throw new InvalidDataException($"'{_manifestPath}': state[{i}] '{s.Name}' has shape [{string.Join(",", s.Shape)}] but graph input '{s.Input}' has [{string.Join(",", gdims)}]");
            var a = _transfer.Allocate(meta.ElementDataType, s.Shape);
            built.Add(a);
            var b = _transfer.Allocate(meta.ElementDataType, s.Shape);
            built.Add(b);
            slots[i] = new StateSlot(s, meta.ElementDataType, [a, b]);
        }
        return slots;
    }

    private ControlSlot[] BuildControls(List<IDisposable> built)
    {
        var slots = new ControlSlot[Manifest.Controls.Count];
        for (int i = 0; i < slots.Length; i++)
        {
            var c = Manifest.Controls[i];
            if (!_train.InputMetadata.TryGetValue(c.Name, out var meta))
                throw new InvalidDataException($"'{_manifestPath}': controls[{i}] '{c.Name}' (role '{c.Role}') is not an input of '{Manifest.TrainingModel}'");
            if (meta.ElementDataType != TensorElementType.Float)
                throw new InvalidDataException($"'{Manifest.TrainingModel}': control input '{c.Name}' is {meta.ElementDataType}; controls are float32");
            long n = Graphs.Tensors.ElementCount(c.Shape);
            var values = new float[n];
            if (c.Default.Length == n) c.Default.CopyTo(values, 0);
            else if (c.Default.Length == 1) Array.Fill(values, c.Default[0]);
            else if (c.Default.Length != 0)
                throw new InvalidDataException($"'{_manifestPath}': controls[{i}] '{c.Name}' has {c.Default.Length} default values, shape [{string.Join(",", c.Shape)}] needs {n}");
            var v = OrtValue.CreateTensorValueFromMemory(values, c.Shape);
            built.Add(v);
            slots[i] = new ControlSlot(c, values, v);
        }
        return slots;
    }

    private MaskSlot[] BuildMasks()
    {
        var slots = new MaskSlot[Manifest.DropoutMasks.Count];
        for (int i = 0; i < slots.Length; i++)
        {
            var m = Manifest.DropoutMasks[i];
            if (!_train.InputMetadata.TryGetValue(m.Name, out var meta))
                throw new InvalidDataException($"'{_manifestPath}': dropout_masks[{i}] '{m.Name}' is not an input of '{Manifest.TrainingModel}'");
            if (meta.ElementDataType != TensorElementType.Bool)
                throw new InvalidDataException($"'{Manifest.TrainingModel}': dropout mask input '{m.Name}' is {meta.ElementDataType}, expected bool");
            if (!(m.Ratio >= 0 && m.Ratio < 1))
                throw new InvalidDataException($"'{_manifestPath}': dropout_masks[{i}] '{m.Name}' has ratio {m.Ratio}, must be in [0, 1)");
            slots[i] = new MaskSlot(m);
        }
        return slots;
    }

    private void ValidateTrainingGraph()
    {
        if (!_train.InputMetadata.TryGetValue(Manifest.LabelName, out var y))
            throw new InvalidDataException($"'{_manifestPath}': label_name '{Manifest.LabelName}' is not an input of '{Manifest.TrainingModel}'");
        if (y.ElementDataType != TensorElementType.Int64)
            throw new InvalidDataException($"'{Manifest.TrainingModel}': label input '{Manifest.LabelName}' is {y.ElementDataType}, expected int64");
        if (!_train.OutputMetadata.TryGetValue(Manifest.LossOutput, out var loss))
            throw new InvalidDataException($"'{_manifestPath}': loss_output '{Manifest.LossOutput}' is not an output of '{Manifest.TrainingModel}'");
        if (loss.ElementDataType != TensorElementType.Float)
            throw new InvalidDataException($"'{Manifest.TrainingModel}': loss output '{Manifest.LossOutput}' is {loss.ElementDataType}, expected float32");
        var fed = new HashSet<string>(StringComparer.Ordinal) { Manifest.InputName, Manifest.LabelName };
        foreach (var s in _state) fed.Add(s.Spec.Input);
        foreach (var c in _controls) fed.Add(c.Spec.Name);
        foreach (var m in _masks) fed.Add(m.Spec.Name);
        var unfed = _train.InputMetadata.Keys.Where(k => !fed.Contains(k)).ToList();
        if (unfed.Count > 0)
            throw new InvalidDataException($"'{_manifestPath}': training model inputs {string.Join(", ", unfed.Select(u => $"'{u}'"))} are not fed by the manifest (not the input, the label, a state input or a control)");
    }

    private void ValidateEvalGraph()
    {
        if (!_eval.InputMetadata.ContainsKey(Manifest.InputName))
            throw new InvalidDataException($"'{_manifestPath}': input_name '{Manifest.InputName}' is not an input of '{Manifest.EvalModel}'");
        var byName = _state.ToDictionary(s => s.Spec.Name, StringComparer.Ordinal);
        foreach (var name in Manifest.EvalStateInputs)
        {
            if (!byName.ContainsKey(name))
                throw new InvalidDataException($"'{_manifestPath}': eval_state_inputs names '{name}', which is not in state");
            if (!_eval.InputMetadata.ContainsKey(name))
                throw new InvalidDataException($"'{_manifestPath}': eval_state_inputs names '{name}', which is not an input of '{Manifest.EvalModel}'");
        }
        var fed = new HashSet<string>(Manifest.EvalStateInputs, StringComparer.Ordinal) { Manifest.InputName };
        if (_evalTakesLabels) fed.Add(Manifest.LabelName);
        var unfed = _eval.InputMetadata.Keys.Where(k => !fed.Contains(k)).ToList();
        if (unfed.Count > 0)
            throw new InvalidDataException($"'{_manifestPath}': eval model inputs {string.Join(", ", unfed.Select(u => $"'{u}'"))} are not fed (not the input and not in eval_state_inputs)");
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Releases the sessions, bindings and device buffers. Spans returned earlier become invalid.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var b in _trainBindings) b?.Dispose();
        _evalBinding?.Dispose();
        _trainBatch.Dispose();
        _evalBatch.Dispose();
        foreach (var s in _state) { s.Buffers[0].Dispose(); s.Buffers[1].Dispose(); }
        foreach (var c in _controls) c.Value.Dispose();
        foreach (var m in _masks) m.Value?.Dispose();
        _evalConfusionValue?.Dispose();
        _fixed?.Dispose();
        DisposeSplit();
        _transfer.Dispose();
        _eval.Dispose();
        _train.Dispose();
        _runOptions.Dispose();
        foreach (var r in _graphRunOptions) r.Dispose();
        _graphOptions?.Dispose();
        if (_ownsOptions) _options.Dispose();
    }

    private sealed class MaskSlot(MaskInput spec)
    {
        public MaskInput Spec { get; } = spec;
        public bool[] Buffer { get; set; } = [];
        public OrtValue? Value { get; set; }
    }

    private sealed record StateSlot(StateTensor Spec, TensorElementType Type, OrtValue[] Buffers);

    private sealed class ControlSlot(ControlInput spec, float[] values, OrtValue value)
    {
        public ControlInput Spec { get; } = spec;
        public float[] Values { get; } = values;
        public OrtValue Value { get; } = value;
        public int Version { get; set; }
        public int[] BoundVersion { get; } = [-1, -1];
    }
}
