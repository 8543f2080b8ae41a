using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Training.Runtime;

/// <summary>The split step (<see cref="ArtifactManifest.SplitStep"/>): gradients and update as two graph runs, for data-parallel training.</summary>
public sealed partial class StepRunner
{
    private const string SplitOnCpuOnly = "split steps run on the CPU for now";

    private InferenceSession? _gradSession;
    private InferenceSession? _updateSession;
    private readonly OrtIoBinding?[] _gradBindings = new OrtIoBinding?[2];
    private readonly OrtIoBinding?[] _updateBindings = new OrtIoBinding?[2];
    private float[] _gradient = [];
    private OrtValue? _gradientValue;
    private readonly float[] _lossSum = new float[1];
    private readonly float[] _normalizer = new float[1];
    private readonly float[] _gradScale = [1f];
    private OrtValue? _lossSumValue, _normalizerValue, _gradScaleValue;
    private StateSlot[] _bufferSlots = [];
    private OrtValue[] _bufferScratch = [];
    private ControlSlot[] _gradControls = [];
    private ControlSlot[] _updateControls = [];

    /// <summary>
    /// True when the artifacts hold the split step (compiled with <c>ArtifactOptions.SplitStep</c>):
    /// <see cref="ComputeGradients(ReadOnlySpan{float}, ReadOnlySpan{long}, int)"/> and <see cref="ApplyGradients"/> can be used.
    /// </summary>
    public bool HasSplitStep => Manifest.SplitStep is not null;

    /// <summary>P: the length of <see cref="Gradients"/> (all trainable values); 0 without a split step.</summary>
    public int GradientLength => Manifest.SplitStep is { } s ? checked((int)s.GradientLength) : 0;

    /// <summary>
    /// The runner-owned flat gradient (length <see cref="GradientLength"/>, parameters in state order, flattened and
    /// concatenated): after <see cref="ComputeGradients(ReadOnlySpan{float}, ReadOnlySpan{long}, int)"/> it holds dS/dtheta,
    /// the gradient of the batch's weighted loss SUM S (= the mean loss's gradient times <see cref="LossNormalizer"/>).
    /// The caller may change it in place (an all-reduce over ranks); <see cref="ApplyGradients"/> reads it.
    /// Empty without a split step.
    /// </summary>
    /// <exception cref="NotSupportedException">On CUDA (split steps run on the CPU for now).</exception>
    public Span<float> Gradients
    {
        get
        {
            ThrowIfDisposed();
            if (HasSplitStep && Device.IsCuda) throw new NotSupportedException(SplitOnCpuOnly);
            return _gradient;
        }
    }

    /// <summary>Z of the last <see cref="ComputeGradients(ReadOnlySpan{float}, ReadOnlySpan{long}, int)"/>: the sum of the batch's
    /// class weights w[y_i] (cross-entropy, LDAM, logit adjustment), the sample count N for focal.</summary>
    public float LossNormalizer => _normalizer[0];

    /// <summary>S of the last <see cref="ComputeGradients(ReadOnlySpan{float}, ReadOnlySpan{long}, int)"/>: the weighted loss sum
    /// (the returned loss is S / Z).</summary>
    public float LossSum => _lossSum[0];

    /// <summary>Names of the buffers (batch-norm running statistics), in state order; empty when the model has none.</summary>
    public IReadOnlyList<string> BufferNames => _state.Where(s => s.Spec.Kind == StateKind.Buffer).Select(s => s.Spec.Name).ToList();

    /// <summary>Copies the current buffers (batch-norm running statistics) to the host, in <see cref="BufferNames"/> order.</summary>
    public List<HostTensor> GetBuffers()
    {
        ThrowIfDisposed();
        return _state.Where(s => s.Spec.Kind == StateKind.Buffer)
            .Select(s => _transfer.Download(s.Spec.Name, s.Buffers[_current], s.Spec.Shape, s.Type)).ToList();
    }

    /// <summary>
    /// Replaces the current buffers (e.g. rank 0's, broadcast after each step: DDP's broadcast_buffers). Every buffer must
    /// be given exactly once, by name, with its shape (fp32); anything else throws <see cref="InvalidDataException"/> and
    /// changes nothing. Parameters, optimizer state and step counters are not touched.
    /// </summary>
    public void SetBuffers(IReadOnlyList<HostTensor> buffers)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(buffers);
        var slots = _state.Where(s => s.Spec.Kind == StateKind.Buffer).ToList();
        var byName = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var t in buffers)
            if (!byName.TryAdd(t.Name, t)) throw new InvalidDataException($"buffer '{t.Name}' is given twice");
        foreach (var name in byName.Keys)
            if (!slots.Any(s => s.Spec.Name == name))
                throw new InvalidDataException($"'{name}' is not a buffer of this artifact (buffers: {(slots.Count == 0 ? "none" : string.Join(", ", slots.Select(s => s.Spec.Name)))})");
        foreach (var s in slots)
        {
            if (!byName.TryGetValue(s.Spec.Name, out var t)) throw new InvalidDataException($"buffer '{s.Spec.Name}' is missing");
            if (!t.Shape.AsSpan().SequenceEqual(s.Spec.Shape) || t.Data is null || t.Data.Length != Graphs.Tensors.ElementCount(s.Spec.Shape))
                throw new InvalidDataException($"buffer '{t.Name}' must be float32 [{string.Join(",", s.Spec.Shape)}] (got [{string.Join(",", t.Shape)}] with {t.Length} values)");
        }
        foreach (var s in slots) _transfer.Upload(byName[s.Spec.Name], s.Buffers[_current]);
    }

    /// <summary>
    /// Runs the split step's gradients graph on a batch (as <see cref="TrainStep(ReadOnlySpan{float}, ReadOnlySpan{long}, int)"/>
    /// would, with the Dropout masks of the current run): fills <see cref="Gradients"/> with dS/dtheta, sets
    /// <see cref="LossSum"/> S and <see cref="LossNormalizer"/> Z, and updates the batch-norm buffers. Parameters,
    /// optimizer state, <see cref="Step"/> and <see cref="MicroStep"/> do not change. The result's loss is S / Z and its
    /// step the unchanged <see cref="Step"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The artifacts have no split step.</exception>
    /// <exception cref="NotSupportedException">On CUDA.</exception>
    /// <exception cref="ArgumentException">Lengths do not match the batch size, or a label is outside [0, C).</exception>
    public StepResult ComputeGradients(ReadOnlySpan<float> x, ReadOnlySpan<long> y, int batchSize) => ComputeGradientsOn(x, y, batchSize);

    /// <summary><see cref="ComputeGradients(ReadOnlySpan{float}, ReadOnlySpan{long}, int)"/> for a model whose input is int64 token ids.</summary>
    public StepResult ComputeGradients(ReadOnlySpan<long> ids, ReadOnlySpan<long> y, int batchSize) => ComputeGradientsOn(ids, y, batchSize);

    private StepResult ComputeGradientsOn<T>(ReadOnlySpan<T> x, ReadOnlySpan<long> y, int batchSize) where T : unmanaged
    {
        ThrowIfDisposed();
        var split = RequireSplit();
        CheckBatch(x.Length, InputTypeOf<T>(), batchSize);
        CheckLabels(y, batchSize, _runnerOptions.ValidateLabels);
        LoadInput(_trainBatch, x, batchSize);
        var batch = _trainBatch;
        y.CopyTo(batch.YSpan);
        FillDropoutMasks(batchSize);

        int k = _current;
        var b = _gradBindings[k]!;
        b.BindInput(Manifest.InputName, batch.X!);
        b.BindInput(Manifest.LabelName, batch.Y!);
        b.BindOutput(Manifest.LossOutput, batch.Loss!);
        if (_trainHasPredictions) b.BindOutput(Manifest.PredictionsOutput, batch.Predictions!);
        foreach (var c in _gradControls) b.BindInput(c.Spec.Name, c.Value);
        foreach (var m in _masks) b.BindInput(m.Spec.Name, m.Value!);
        _gradSession!.RunWithBinding(_runOptions, b);
        b.SynchronizeBoundOutputs();
        // The buffers' new values went to scratch tensors: the current set must keep the parameters the next update reads.
        for (int i = 0; i < _bufferSlots.Length; i++)
            _bufferScratch[i].GetTensorDataAsSpan<float>().CopyTo(_bufferSlots[i].Buffers[k].GetTensorMutableDataAsSpan<float>());
        _ = split;
        return new StepResult(batch.LossValue, _trainHasPredictions ? batch.PredictionSpan : [], Step);
    }

    /// <summary>
    /// Runs the split step's update graph with <see cref="Gradients"/> times <paramref name="scale"/> as the gradient
    /// (1 / the global normaliser: the sum of all ranks' <see cref="LossNormalizer"/>), through the compiled clipping (if
    /// any) and optimizer, then advances <see cref="Step"/> and <see cref="MicroStep"/> by one, exactly as one
    /// <see cref="TrainStep(ReadOnlySpan{float}, ReadOnlySpan{long}, int)"/> does (learning-rate schedules, Adam's bias
    /// corrections, SGD's first step and the Dropout positions stay in step). Buffers keep their current values.
    /// </summary>
    /// <exception cref="InvalidOperationException">The artifacts have no split step.</exception>
    /// <exception cref="NotSupportedException">On CUDA.</exception>
    public void ApplyGradients(float scale)
    {
        ThrowIfDisposed();
        RequireSplit();
        UpdateComputedControls(Step + 1, reset: true, applies: true);
        _gradScale[0] = scale;
        int k = _current;
        var b = _updateBindings[k]!;
        foreach (var c in _updateControls) b.BindInput(c.Spec.Name, c.Value);
        // Buffers are not outputs of the update graph: carry them into the set that becomes current.
        foreach (var s in _bufferSlots)
            s.Buffers[k].GetTensorDataAsSpan<float>().CopyTo(s.Buffers[1 - k].GetTensorMutableDataAsSpan<float>());
        _updateSession!.RunWithBinding(_runOptions, b);
        b.SynchronizeBoundOutputs();
        _current = 1 - k;
        MicroStep++;
        Step++;
    }

    private SplitStepManifest RequireSplit()
    {
        var split = Manifest.SplitStep ?? throw new InvalidOperationException(
            $"the artifacts in '{ArtifactDir}' have no split step: compile them with ArtifactOptions.SplitStep = true");
        if (Device.IsCuda) throw new NotSupportedException(SplitOnCpuOnly);
        return split;
    }

    /// <summary>Opens and checks the split step's graphs and prepares their bindings (CPU only; on CUDA nothing is opened).</summary>
    private void InitSplit(List<IDisposable> built)
    {
        if (Manifest.SplitStep is not { } split || Device.IsCuda) return;
        if (_accumulation > 1)
            throw new InvalidDataException($"'{_manifestPath}': a split step cannot be combined with accumulation_steps {_accumulation}");
        _gradSession = OpenSession(split.GradientsModel, "gradients_model");
        built.Add(_gradSession);
        _updateSession = OpenSession(split.UpdateModel, "update_model");
        built.Add(_updateSession);

        long p = _state.Where(s => s.Spec.Kind == StateKind.Parameter).Sum(s => Graphs.Tensors.ElementCount(s.Spec.Shape));
        if (split.GradientLength != p || p > Array.MaxLength)
            throw new InvalidDataException($"'{_manifestPath}': split_step.gradient_length is {split.GradientLength}, the parameters hold {p} values");
        _gradient = new float[p];
        _gradientValue = OrtValue.CreateTensorValueFromMemory(_gradient, [p]);
        built.Add(_gradientValue);
        _lossSumValue = OrtValue.CreateTensorValueFromMemory(_lossSum, []);
        built.Add(_lossSumValue);
        _normalizerValue = OrtValue.CreateTensorValueFromMemory(_normalizer, []);
        built.Add(_normalizerValue);
        _gradScaleValue = OrtValue.CreateTensorValueFromMemory(_gradScale, []);
        built.Add(_gradScaleValue);

        ControlSlot[] Controls(List<string> names, string field, InferenceSession session, string file) => names.Select(n =>
        {
            var slot = _controls.FirstOrDefault(c => c.Spec.Name == n)
                ?? throw new InvalidDataException($"'{_manifestPath}': split_step.{field} names '{n}', which is not in controls");
            if (!session.InputMetadata.ContainsKey(n)) throw new InvalidDataException($"'{_manifestPath}': split_step.{field} names '{n}', which is not an input of '{file}'");
            return slot;
        }).ToArray();
        _gradControls = Controls(split.GradientsControls, "gradients_controls", _gradSession, split.GradientsModel);
        _updateControls = Controls(split.UpdateControls, "update_controls", _updateSession, split.UpdateModel);
        _bufferSlots = _state.Where(s => s.Spec.Kind == StateKind.Buffer).ToArray();
        if (_bufferSlots.Any(s => s.Type != TensorElementType.Float))
            throw new InvalidDataException($"'{_manifestPath}': the split step needs float32 buffers");
        _bufferScratch = _bufferSlots.Select(s => { var v = _transfer.Allocate(TensorElementType.Float, s.Spec.Shape); built.Add(v); return v; }).ToArray();

        void Expect(InferenceSession session, string file, IEnumerable<string> inputs, IEnumerable<string> outputs)
        {
            var want = new HashSet<string>(inputs, StringComparer.Ordinal);
            var missing = want.Where(i => !session.InputMetadata.ContainsKey(i)).ToList();
            var unfed = session.InputMetadata.Keys.Where(i => !want.Contains(i)).ToList();
            var noOut = outputs.Where(o => !session.OutputMetadata.ContainsKey(o)).ToList();
            if (missing.Count + unfed.Count + noOut.Count > 0)
                throw new InvalidDataException($"'{_manifestPath}': '{file}' does not match the manifest"
                    + (missing.Count > 0 ? $"; missing inputs {string.Join(", ", missing)}" : "")
                    + (unfed.Count > 0 ? $"; inputs not fed by the manifest {string.Join(", ", unfed)}" : "")
                    + (noOut.Count > 0 ? $"; missing outputs {string.Join(", ", noOut)}" : ""));
        }
        var gradState = _state.Where(s => s.Spec.Kind != StateKind.Optimizer).ToList();
        var updState = _state.Where(s => s.Spec.Kind != StateKind.Buffer).ToList();
        var gradOutputs = new List<string> { Manifest.LossOutput, split.GradientOutput, split.LossSumOutput, split.NormalizerOutput };
        gradOutputs.AddRange(_bufferSlots.Select(s => s.Spec.Output));
        Expect(_gradSession, split.GradientsModel,
            new[] { Manifest.InputName, Manifest.LabelName }.Concat(gradState.Select(s => s.Spec.Input)).Concat(split.GradientsControls).Concat(_masks.Select(m => m.Spec.Name)),
            gradOutputs);
        Expect(_updateSession, split.UpdateModel,
            updState.Select(s => s.Spec.Input).Concat(split.UpdateControls).Append(split.GradientInput).Append(split.GradScaleInput),
            updState.Select(s => s.Spec.Output));

        for (int k = 0; k < 2; k++)
        {
            var gb = _gradSession.CreateIoBinding();
            built.Add(gb);
            _gradBindings[k] = gb;
            foreach (var s in gradState) gb.BindInput(s.Spec.Input, s.Buffers[k]);
            for (int i = 0; i < _bufferSlots.Length; i++) gb.BindOutput(_bufferSlots[i].Spec.Output, _bufferScratch[i]);
            gb.BindOutput(split.GradientOutput, _gradientValue);
            gb.BindOutput(split.LossSumOutput, _lossSumValue);
            gb.BindOutput(split.NormalizerOutput, _normalizerValue);

            var ub = _updateSession.CreateIoBinding();
            built.Add(ub);
            _updateBindings[k] = ub;
            foreach (var s in updState)
            {
                ub.BindInput(s.Spec.Input, s.Buffers[k]);
                ub.BindOutput(s.Spec.Output, s.Buffers[1 - k]);
            }
            ub.BindInput(split.GradientInput, _gradientValue);
            ub.BindInput(split.GradScaleInput, _gradScaleValue);
        }
    }

    private void DisposeSplit()
    {
        foreach (var b in _gradBindings) b?.Dispose();
        foreach (var b in _updateBindings) b?.Dispose();
        foreach (var v in _bufferScratch) v.Dispose();
        _gradientValue?.Dispose();
        _lossSumValue?.Dispose();
        _normalizerValue?.Dispose();
        _gradScaleValue?.Dispose();
        _gradSession?.Dispose();
        _updateSession?.Dispose();
    }
}
