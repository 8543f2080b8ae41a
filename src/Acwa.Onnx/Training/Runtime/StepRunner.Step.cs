using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Acwa.Onnx.Training;

namespace Acwa.Onnx.Training.Runtime;

public sealed partial class StepRunner
{
    private readonly int[] _boundBatchVersion = [-1, -1];

    /// <summary>
    /// Runs one training step on a batch: <paramref name="x"/> holds <paramref name="batchSize"/> samples of
    /// <see cref="SampleSize"/> values each (row-major), <paramref name="y"/> their labels in [0, C). Any batch size of 1
    /// or more works (a smaller last batch rebinds the input shapes). The parameters, optimizer state and buffers are
    /// updated on the device; <see cref="Step"/> grows by one. Adam's bias-correction controls (if the graph has them)
    /// are fed 1 - beta^(Step+1) before the run.
    /// </summary>
    /// <exception cref="ArgumentException">Lengths do not match the batch size, or a label is outside [0, C) (the message names the index and value).</exception>
    public StepResult TrainStep(ReadOnlySpan<float> x, ReadOnlySpan<long> y, int batchSize) => TrainStepOn(x, y, batchSize);

    /// <summary>
    /// <see cref="TrainStep(ReadOnlySpan{float}, ReadOnlySpan{long}, int)"/> for a model whose input is int64
    /// (<see cref="InputType"/>): <paramref name="ids"/> holds <paramref name="batchSize"/> rows of
    /// <see cref="SampleSize"/> token ids (row-major), e.g. a text classifier's [N, L] ids with its padding id in the tails.
    /// </summary>
    /// <exception cref="ArgumentException">The model's input is float32, lengths do not match the batch size, or a label is outside [0, C).</exception>
    public StepResult TrainStep(ReadOnlySpan<long> ids, ReadOnlySpan<long> y, int batchSize) => TrainStepOn(ids, y, batchSize);

    private StepResult TrainStepOn<T>(ReadOnlySpan<T> x, ReadOnlySpan<long> y, int batchSize) where T : unmanaged
    {
        ThrowIfDisposed();
        CheckBatch(x.Length, InputTypeOf<T>(), batchSize);
        CheckLabels(y, batchSize, _runnerOptions.ValidateLabels);
        LoadInput(_trainBatch, x, batchSize);
        return TrainCore(y, batchSize);
    }

    private static TensorElementType InputTypeOf<T>() => typeof(T) == typeof(long) ? TensorElementType.Int64 : TensorElementType.Float;

    /// <summary>Sizes <paramref name="batch"/> for <paramref name="batchSize"/> rows and copies the (checked) input into it.</summary>
    private static void LoadInput<T>(HostBatch batch, ReadOnlySpan<T> x, int batchSize) where T : unmanaged
    {
        batch.EnsureBatchSize(batchSize);
        if (typeof(T) == typeof(long)) x.CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<long, T>(batch.IdsSpan));
        else x.CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<float, T>(batch.XSpan));
    }

    /// <summary>y must hold <paramref name="batchSize"/> labels; with <paramref name="validate"/>, each in [0, C) (the message names index and value).</summary>
    private void CheckLabels(ReadOnlySpan<long> y, int batchSize, bool validate)
    {
        if (y.Length != batchSize) throw new ArgumentException($"y has {y.Length} labels, expected batch size {batchSize}", nameof(y));
        if (!validate) return;
        for (int i = 0; i < y.Length; i++)
            if ((ulong)y[i] >= (ulong)NumClasses)
                throw new ArgumentException($"label y[{i}] = {y[i]} is outside [0, {NumClasses})", nameof(y));
    }

    /// <summary>The step once the batch's input is in the host buffer.</summary>
    private StepResult TrainCore(ReadOnlySpan<long> y, int batchSize)
    {
        bool applies = (MicroStep + 1) % _accumulation == 0;
        UpdateComputedControls(Step + 1, reset: MicroStep % _accumulation == 0, applies);
        var batch = _trainBatch;
        y.CopyTo(batch.YSpan);
        FillDropoutMasks(batchSize);

        int k = _current;
        if (_runnerOptions.CudaGraph || _runnerOptions.FixedFeeds) FixedOrPlainRun(k, batchSize);
        else PlainRun(k, _runOptions);
        _current = 1 - k;
        MicroStep++;
        if (applies) Step++;
        return new StepResult(batch.LossValue, _trainHasPredictions ? batch.PredictionSpan : [], Step);
    }

    /// <summary>One training run with the host batch, controls and masks bound directly (ORT copies them to the device).</summary>
    private void PlainRun(int k, RunOptions runOptions)
    {
        var batch = _trainBatch;
        var binding = _trainBindings[k];
        // Rebound every step: on a GPU, binding a host value is what copies it to the device.
        binding.BindInput(Manifest.InputName, batch.X!);
        binding.BindInput(Manifest.LabelName, batch.Y!);
        if (_boundBatchVersion[k] != batch.Version)
        {
            binding.BindOutput(Manifest.LossOutput, batch.Loss!);
            if (_trainHasPredictions) binding.BindOutput(Manifest.PredictionsOutput, batch.Predictions!);
            _boundBatchVersion[k] = batch.Version;
        }
        foreach (var c in _controls)
        {
            if (c.BoundVersion[k] == c.Version) continue;
            binding.BindInput(c.Spec.Name, c.Value);
            c.BoundVersion[k] = c.Version;
        }
        foreach (var m in _masks) binding.BindInput(m.Spec.Name, m.Value!);
        _train.RunWithBinding(runOptions, binding);
        binding.SynchronizeBoundOutputs();
    }

    // Run options of the CUDA-graph path: [0] gpu_graph_id -1 (run uncaptured), [1] and [2] the graphs of ping-pong
    // direction 0 (state set A in) and 1 (set B in). ORT reserves id 0.
    private readonly RunOptions[] _graphRunOptions = [GraphRunOptions(-1), GraphRunOptions(1), GraphRunOptions(2)];
    private FixedFeeds? _fixed;
    private readonly bool[] _fixedBound = [false, false];

    private static RunOptions GraphRunOptions(int id)
    {
        var r = new RunOptions();
        r.AddRunConfigEntry("gpu_graph_id", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return r;
    }

    /// <summary>
    /// The <see cref="StepRunnerOptions.CudaGraph"/> step: at the batch size of the first step, the host values go into
    /// fixed device tensors by one copy run, the training run reads and writes only fixed tensors (its bindings made once
    /// per direction) and is captured as graph k+1, and loss and predictions come back by a second copy run; any other
    /// batch size runs the plain way, uncaptured.
    /// </summary>
    private void FixedOrPlainRun(int k, int batchSize)
    {
        bool capture = _runnerOptions.CudaGraph;
        _fixed ??= CreateFixedFeeds(batchSize);
        var binding = _trainBindings[k];
        if (batchSize != _fixed.BatchSize)
        {
            if (_fixedBound[k])
            {
                // The plain run binds host values again (and output buffers), so forget what was bound.
                _boundBatchVersion[k] = -1;
                foreach (var c in _controls) c.BoundVersion[k] = -1;
                _fixedBound[k] = false;
            }
            PlainRun(k, capture ? _graphRunOptions[0] : _runOptions);
            return;
        }
        var host = new List<OrtValue>(2 + _controls.Length + _masks.Length) { _trainBatch.X!, _trainBatch.Y! };
        foreach (var c in _controls) host.Add(c.Value);
        foreach (var m in _masks) host.Add(m.Value!);
        _fixed.Upload(host);
        if (!_fixedBound[k])
        {
            foreach (var (name, value) in _fixed.Inputs) binding.BindInput(name, value);
            foreach (var (name, value) in _fixed.Outputs) binding.BindOutput(name, value);
            _boundBatchVersion[k] = -1;
            foreach (var c in _controls) c.BoundVersion[k] = -1;
            _fixedBound[k] = true;
        }
        _train.RunWithBinding(capture ? _graphRunOptions[1 + k] : _runOptions, binding);
        binding.SynchronizeBoundOutputs();
        _fixed.Download(_trainHasPredictions ? [_trainBatch.Loss!, _trainBatch.Predictions!] : [_trainBatch.Loss!]);
    }

    private FixedFeeds CreateFixedFeeds(int batchSize)
    {
        var inputs = new List<(string, TensorElementType, long[])>();
        var x = (long[])InputShape.Clone();
        x[0] = batchSize;
        inputs.Add((Manifest.InputName, InputType, x));
        inputs.Add((Manifest.LabelName, TensorElementType.Int64, [batchSize]));
        foreach (var c in _controls) inputs.Add((c.Spec.Name, TensorElementType.Float, c.Spec.Shape));
        foreach (var m in _masks) inputs.Add((m.Spec.Name, TensorElementType.Bool, m.Spec.ShapeFor(batchSize)));
        var outputs = new List<(string, TensorElementType, long[])> { (Manifest.LossOutput, TensorElementType.Float, []) };
        if (_trainHasPredictions) outputs.Add((Manifest.PredictionsOutput, TensorElementType.Int64, [batchSize]));
        return new FixedFeeds(batchSize, _transfer, _options, inputs, outputs);
    }

    private void CheckBatch(int length, TensorElementType type, int batchSize)
    {
        string arg = type == TensorElementType.Int64 ? "ids" : "x";
        if (type != InputType)
            throw new ArgumentException(InputType == TensorElementType.Int64
                ? $"the model's input '{Manifest.InputName}' is int64 (token ids): pass them as ReadOnlySpan<long>, not float32 values"
                : $"the model's input '{Manifest.InputName}' is float32: pass float values, not int64 ids", arg);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be 1 or more");
        if (length != batchSize * _sampleSize)
            throw new ArgumentException($"{arg} has {length} values, expected batch size {batchSize} x {_sampleSize} values per sample = {batchSize * _sampleSize}", arg);
    }

    private void UpdateComputedControls(long t, bool reset, bool applies)
    {
        foreach (var c in _controls)
        {
            float v;
            switch (c.Spec.Role)
            {
                case ControlRoles.AdamBias1: v = (float)(1.0 - Math.Pow(_beta1, t)); break;
                case ControlRoles.AdamBias2: v = (float)(1.0 - Math.Pow(_beta2, t)); break;
                case ControlRoles.FirstStep: v = t == 1 ? 1f : 0f; break;
                case ControlRoles.AccumulateReset: v = reset ? 1f : 0f; break;
                case ControlRoles.AccumulateApply: v = applies ? 1f : 0f; break;
                default: continue;
            }
            if (c.Values.Length == 1 && c.Values[0] == v) continue;
            Array.Fill(c.Values, v);
            c.Version++;
        }
    }

    private void FillDropoutMasks(int batchSize)
    {
        for (int i = 0; i < _masks.Length; i++)
        {
            var m = _masks[i];
            var shape = m.Spec.ShapeFor(batchSize);
            long n = Graphs.Tensors.ElementCount(shape);
            if (m.Buffer.Length != n || m.Value is null)
            {
                m.Value?.Dispose();
                m.Buffer = new bool[n];
                m.Value = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(m.Buffer, shape);
            }
            // A pure function of (seed, run, mask): resuming at run r draws what an uninterrupted run draws.
            var rng = Data.Xoshiro256StarStar.Derive(_runnerOptions.DropoutSeed, (ulong)MicroStep, (ulong)i);
            double keep = 1 - m.Spec.Ratio;
            var buf = m.Buffer;
            for (long j = 0; j < buf.Length; j++) buf[j] = rng.NextDouble() < keep;
        }
    }

    /// <summary>True when the training graph has a control input with role (or name) <paramref name="roleOrName"/>.</summary>
    public bool HasControl(string roleOrName) => _controls.Any(c => c.Spec.Role == roleOrName || c.Spec.Name == roleOrName);

    /// <summary>The current values of the control(s) with role (or input name) <paramref name="roleOrName"/> (a copy of the first match).</summary>
    public float[] GetControl(string roleOrName) =>
        (_controls.FirstOrDefault(c => c.Spec.Role == roleOrName || c.Spec.Name == roleOrName)
            ?? throw new KeyNotFoundException($"the training graph has no control with role or name '{roleOrName}' (controls: {ControlList()})")).Values.ToArray();

    /// <summary>
    /// Sets every control input whose role (or input name) is <paramref name="roleOrName"/>. <paramref name="values"/> must
    /// have the control's element count, or 1 value to fill it. Takes effect from the next step. Throws
    /// <see cref="KeyNotFoundException"/> when no control matches, <see cref="ArgumentException"/> on a length mismatch.
    /// Setting an Adam bias role is allowed but is overwritten before each step.
    /// </summary>
    public void SetControl(string roleOrName, ReadOnlySpan<float> values)
    {
        ThrowIfDisposed();
        bool any = false;
        foreach (var c in _controls)
        {
            if (c.Spec.Role != roleOrName && c.Spec.Name != roleOrName) continue;
            any = true;
            if (values.Length == c.Values.Length) values.CopyTo(c.Values);
            else if (values.Length == 1) c.Values.AsSpan().Fill(values[0]);
            else throw new ArgumentException($"control '{c.Spec.Name}' (role '{c.Spec.Role}') has {c.Values.Length} values, got {values.Length}", nameof(values));
            c.Version++;
        }
        if (!any) throw new KeyNotFoundException($"the training graph has no control with role or name '{roleOrName}' (controls: {ControlList()})");
    }

    /// <summary>Sets the learning rate (the <c>lr</c> control) for the next steps.</summary>
    public void SetLearningRate(float lr) => SetControl(ControlRoles.LearningRate, [lr]);

    /// <summary>
    /// Sets the class weights (the <c>class_weights</c> control, length C) for the next steps. Throws when the length is
    /// not C or a weight is negative, NaN or infinite (the message names the index).
    /// </summary>
    public void SetClassWeights(ReadOnlySpan<float> weights)
    {
        if (weights.Length != NumClasses) throw new ArgumentException($"class weights have {weights.Length} values, expected C = {NumClasses}", nameof(weights));
        for (int i = 0; i < weights.Length; i++)
            if (!float.IsFinite(weights[i]) || weights[i] < 0)
                throw new ArgumentException($"class weight [{i}] = {weights[i]} must be finite and >= 0", nameof(weights));
        SetControl(ControlRoles.ClassWeights, weights);
    }

    private string ControlList() => _controls.Length == 0 ? "none" : string.Join(", ", _controls.Select(c => $"{c.Spec.Name}:{c.Spec.Role}"));
}
