using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Acwa.Onnx.Data;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Metrics;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;

namespace Acwa.Onnx.Evaluation;

/// <summary>
/// Runs an ONNX classifier over a dataset and accumulates the confusion matrix. The classifier has one fed input, which
/// may be images (fp32 [N, C, H, W] or [N, C*H*W], normalised from bytes or given as floats), other fp32 samples
/// (features [N, F], sequences [N, T, F], signals [N, C, L]) or int64 token ids ([N, T]), and a logits output fp32
/// [N, classes] (docs/eval.md). The host and the model work at the same time:
/// <list type="bullet">
/// <item>a background task prepares batch k+1 (normalising image bytes, or copying samples) into one of two reused,
/// pinned input buffers while batch k runs;</item>
/// <item>inputs and outputs are bound once per buffer through <see cref="OrtIoBinding"/> to preallocated OrtValues (no
/// per-batch tensor allocation; the short last batch has its own pair);</item>
/// <item>by default the graph gets an extra <c>ArgMax</c> output (<see cref="ClassifierGraphs.WithArgMaxOutput"/>) so only
/// int64 predictions come back; otherwise the fp32 logits come back and the SIMD kernels of
/// <see cref="ConfusionMatrix"/> take the argmax;</item>
/// <item>on CPU the provider uses one intra-op thread per core unless told otherwise.</item>
/// </list>
/// One evaluator owns one session; the <c>Evaluate</c> overloads (an <see cref="ImageDataset"/>, preprocessed float images,
/// float samples, token ids, a <see cref="SampleDataset"/>) may be called many times but not concurrently.
/// </summary>
public sealed class Evaluator : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string _fetchName;
    private readonly long?[] _inputDims;
    private readonly string _source;
    private bool _disposed;

    /// <summary>Loads the model at <paramref name="modelPath"/> (external data next to it is resolved).</summary>
    /// <exception cref="InvalidDataException">The model is not a classifier as described on the class (the message names
    /// the input or output and the shape found), or its metadata is malformed.</exception>
    public static Evaluator Load(string modelPath, EvaluatorOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"model '{modelPath}' does not exist", modelPath);
        ModelProto model;
        try { model = OnnxModel.Load(modelPath); }
        catch (Google.Protobuf.InvalidProtocolBufferException e) { throw new InvalidDataException($"'{modelPath}' is not an ONNX model: {e.Message}", e); }
        return new Evaluator(model, options, modelPath);
    }

    /// <summary>Creates an evaluator for an in-memory model (which is not modified).</summary>
    /// <exception cref="InvalidDataException">See <see cref="Load"/>.</exception>
    public Evaluator(ModelProto model, EvaluatorOptions? options = null) : this(model, options, "model") { }

    private Evaluator(ModelProto model, EvaluatorOptions? options, string source)
    {
        ArgumentNullException.ThrowIfNull(model);
        Options = options ?? new EvaluatorOptions();
        if (Options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), Options.BatchSize, "EvaluatorOptions.BatchSize must be at least 1");
        Metadata = ClassifierMetadata.Read(model);
        _source = source;
        if (model.Graph is null) throw new InvalidDataException($"{source} has no graph");
        ConvertedToInferenceMode = [];
        if (!Options.KeepTrainingMode)
        {
            try { model = InferenceMode.Apply(model, out var converted); ConvertedToInferenceMode = converted; }
            catch (NotSupportedException e) { throw new InvalidDataException($"{source}: {e.Message}", e); }
        }
        var g = model.Graph;

        var fed = ClassifierGraphs.FedInputs(g);
        InputName = Options.Input ?? Metadata.Input ?? (fed.Count == 1 ? fed[0].Name
            : throw new InvalidDataException($"{source} has {fed.Count} inputs ({string.Join(", ", fed.Select(i => i.Name))}); name the input (EvaluatorOptions.Input or metadata '{ClassifierMetadata.InputKey}')"));
        var input = fed.FirstOrDefault(i => i.Name == InputName)
            ?? throw new InvalidDataException($"{source} has no input '{InputName}' (inputs: {string.Join(", ", fed.Select(i => i.Name))})");
        if (fed.Count > 1) throw new InvalidDataException($"{source} needs inputs besides '{InputName}' ({string.Join(", ", fed.Where(i => i.Name != InputName).Select(i => i.Name))}); an evaluator feeds only the images");
        if (input.Type?.TensorType?.ElemType is int et && et != (int)ElementType.Float && et != (int)ElementType.Int64)
            throw new InvalidDataException($"{source}: input '{InputName}' has element type {(TensorProto.Types.DataType)et}; expected float (fp32) or int64 (token ids)");
        InputType = input.Type?.TensorType?.ElemType == (int)ElementType.Int64 ? TensorElementType.Int64 : TensorElementType.Float;
        _inputDims = ClassifierGraphs.DeclaredDims(input) ?? throw new InvalidDataException($"{source}: input '{InputName}' declares no shape; expected [N, C, H, W], [N, features] or another [N, ...]");
        if (_inputDims.Length < 2)
            throw new InvalidDataException($"{source}: input '{InputName}' has shape {ClassifierGraphs.FormatShape(input)}; expected a batch axis and at least one more: [N, C, H, W], [N, features], [N, T, F], ...");

        OutputName = Options.Output ?? Metadata.Output ?? (g.Output.Count > 0 ? g.Output[0].Name : throw new InvalidDataException($"{source} has no outputs"));
        var output = g.Output.FirstOrDefault(o => o.Name == OutputName)
            ?? throw new InvalidDataException($"{source} has no output '{OutputName}' (outputs: {string.Join(", ", g.Output.Select(o => o.Name))})");
        var outDims = ClassifierGraphs.DeclaredDims(output);
        if (outDims is not { Length: 2 } || outDims[1] is not { } classes || classes < 1)
            throw new InvalidDataException(
                $"{source}: output '{OutputName}' has shape {ClassifierGraphs.FormatShape(output)}; expected logits [N, C] (batch, classes) with a fixed number of classes C");
        if (output.Type?.TensorType?.ElemType is int ot && ot != (int)ElementType.Float)
            throw new InvalidDataException($"{source}: output '{OutputName}' has element type {(TensorProto.Types.DataType)ot}; expected float (fp32) logits");
        Classes = checked((int)classes);
        if (Metadata.ClassNames is { } names && names.Count != Classes)
            throw new InvalidDataException($"{source}: metadata '{ClassifierMetadata.ClassNamesKey}' names {names.Count} classes but output '{OutputName}' has {Classes}");

        var run = model;
        _fetchName = OutputName;
        if (Options.ArgMaxInGraph)
        {
            var free = ClassifierGraphs.PredictionsOutput;
            for (int k = 1; g.Node.Any(n => n.Output.Contains(free)) || g.Input.Any(i => i.Name == free); k++) free = $"{ClassifierGraphs.PredictionsOutput}.{k}";
            run = ClassifierGraphs.WithArgMaxOutput(model, OutputName, free);
            _fetchName = free;
        }

        SessionOptions? owned = Options.SessionOptions is null ? SessionOptionsFactory.Create(Options.Device, Options.IntraOpThreads, Options.AllowCpuFallback) : null;
        try
        {
            try { _session = new InferenceSession(OnnxModel.ToBytes(run), Options.SessionOptions ?? owned!); }
            catch (OnnxRuntimeException e) when (Options.Device.IsCuda && Options.SessionOptions is null)
            { throw SessionOptionsFactory.Explain(Options.Device, e, "creating the evaluation session"); }
            catch (OnnxRuntimeException e) when (!Options.Device.IsCuda)
            { throw new InvalidDataException($"{source}: ONNX Runtime cannot load the model: {e.Message.Split('\n')[0].Trim()}", e); }
        }
        catch
        {
            _runOptions.Dispose();
            throw;
        }
        finally { owned?.Dispose(); }
    }

    /// <summary>The options this evaluator was created with.</summary>
    public EvaluatorOptions Options { get; }

    /// <summary>The model's <c>acwa.*</c> metadata (fields null when absent).</summary>
    public ClassifierMetadata Metadata { get; }

    /// <summary>
    /// The training-mode nodes (BatchNormalization, Dropout) that were put into inference mode before evaluation, as
    /// "node 'NAME' (OpType)"; empty when the model had none or <see cref="EvaluatorOptions.KeepTrainingMode"/> is set.
    /// </summary>
    public IReadOnlyList<string> ConvertedToInferenceMode { get; }

    /// <summary>Name of the image input.</summary>
    public string InputName { get; }

    /// <summary>Name of the logits output.</summary>
    public string OutputName { get; }

    /// <summary>Number of classes (the logits' second dimension).</summary>
    public int Classes { get; }

    /// <summary>
    /// The input's element type: float (images, features, sequences) or int64 (token ids, fed with
    /// <see cref="Evaluate(ReadOnlyMemory{long}, ReadOnlyMemory{int}, int[], IReadOnlyList{string}?, CancellationToken)"/>).
    /// </summary>
    public TensorElementType InputType { get; }

    /// <summary>The input's declared dims, the batch axis first; null where a dim is symbolic.</summary>
    public IReadOnlyList<long?> InputDims => _inputDims;

    /// <summary>True when predictions are computed in the graph (<see cref="EvaluatorOptions.ArgMaxInGraph"/>).</summary>
    public bool PredictionsInGraph => Options.ArgMaxInGraph;

    /// <summary>
    /// The input's batch dimension when the model fixes it (e.g. an export without a dynamic batch axis), else null.
    /// Such a model runs every batch at that size, whatever <see cref="EvaluatorOptions.BatchSize"/> says; a short last
    /// batch is padded with stale images whose predictions are ignored.
    /// </summary>
    public int? FixedBatch => _inputDims[0] is { } b ? checked((int)b) : null;

    /// <summary>The session (owned by the evaluator; valid until <see cref="Dispose"/>).</summary>
    internal InferenceSession Session => _session;

    /// <summary>
    /// Evaluates every image of <paramref name="data"/> in order. Pixels are normalised with
    /// <paramref name="normalization"/>, else the model's <c>acwa.normalization</c>, else x/255
    /// (<see cref="Normalization.Scale01"/>). Class names come from the model's <c>acwa.class_names</c>, else the
    /// dataset's when it has as many classes as the model, else the class numbers.
    /// </summary>
    /// <exception cref="ArgumentException">The images do not fit the input shape, the normalisation has another channel
    /// count, or a label is outside the model's classes (the message names the sizes or the sample).</exception>
    public EvaluationResult Evaluate(ImageDataset data, Normalization? normalization = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var norm = normalization ?? Metadata.Normalization ?? Normalization.Scale01(data.Channels);
        if (norm.Channels != data.Channels)
            throw new ArgumentException($"normalisation has {norm.Channels} channels ({norm}) but the images of {data.Source} have {data.Channels}");
        long[] shape = InputShape(data.Channels, data.Height, data.Width, data.Source);
        var luts = Enumerable.Range(0, data.Channels).Select(norm.LookupTable).ToArray();
        int size = data.ImageSize, plane = data.Height * data.Width;
        var pixels = data;
        void Fill(int start, int count, Span<float> dst)
        {
            for (int k = 0; k < count; k++)
            {
                var src = pixels.Image(start + k);
                for (int c = 0; c < luts.Length; c++)
                {
                    var lut = luts[c];
                    var s = src.Slice(c * plane, plane);
                    var d = dst.Slice(k * size + c * plane, plane);
                    for (int p = 0; p < s.Length; p++) d[p] = lut[s[p]];
                }
            }
        }
        var names = Metadata.ClassNames ?? (data.ClassCount == Classes ? data.ClassNames : null);
        return Run<float>(data.Labels.ToArray(), size, shape, Fill, names, data.Source, cancellationToken);
    }

    /// <summary>
    /// Evaluates images that are already preprocessed: <paramref name="images"/> holds <c>labels.Length</c> images of
    /// <paramref name="channels"/> x <paramref name="height"/> x <paramref name="width"/> floats each, fed as they are.
    /// </summary>
    /// <exception cref="ArgumentException">Sizes do not match the input or each other, or a label is outside the classes.</exception>
    public EvaluationResult Evaluate(ReadOnlyMemory<float> images, ReadOnlyMemory<int> labels, int channels, int height, int width,
        IReadOnlyList<string>? classNames = null, CancellationToken cancellationToken = default)
    {
        long[] shape = InputShape(channels, height, width, "images");
        int size = checked(channels * height * width);
        if ((long)labels.Length * size != images.Length)
            throw new ArgumentException($"{images.Length} floats are not {labels.Length} images of {channels}x{height}x{width}");
        void Fill(int start, int count, Span<float> dst) => images.Span.Slice(start * size, count * size).CopyTo(dst);
        return Run<float>(labels.ToArray(), size, shape, Fill, Metadata.ClassNames ?? classNames, "images", cancellationToken);
    }

    /// <summary>
    /// Evaluates float samples of any shape, fed as they are: <paramref name="samples"/> holds <c>labels.Length</c>
    /// samples of <paramref name="sampleShape"/> (the input's dims after the batch axis: features <c>[F]</c>, sequences
    /// <c>[T, F]</c>, 1-D signals <c>[C, L]</c>, images <c>[C, H, W]</c>).
    /// </summary>
    /// <exception cref="ArgumentException">The model takes int64 token ids, the shape does not match the input's declared
    /// dims, the sizes disagree, or a label is outside the classes.</exception>
    public EvaluationResult Evaluate(ReadOnlyMemory<float> samples, ReadOnlyMemory<int> labels, int[] sampleShape,
        IReadOnlyList<string>? classNames = null, CancellationToken cancellationToken = default) =>
        EvaluateSamples(samples, labels, sampleShape, TensorElementType.Float, classNames, cancellationToken);

    /// <summary>
    /// Evaluates a model whose input is int64 token ids (<see cref="InputType"/>): <paramref name="ids"/> holds
    /// <c>labels.Length</c> samples of <paramref name="sampleShape"/> (e.g. <c>[T]</c> tokens), fed as they are.
    /// </summary>
    /// <exception cref="ArgumentException">The model takes floats, the shape does not match the input's declared dims, the
    /// sizes disagree, or a label is outside the classes.</exception>
    public EvaluationResult Evaluate(ReadOnlyMemory<long> ids, ReadOnlyMemory<int> labels, int[] sampleShape,
        IReadOnlyList<string>? classNames = null, CancellationToken cancellationToken = default) =>
        EvaluateSamples(ids, labels, sampleShape, TensorElementType.Int64, classNames, cancellationToken);

    /// <summary>
    /// Evaluates a <see cref="SampleDataset"/>: its float samples or token ids as they are, with its class names.
    /// </summary>
    /// <exception cref="ArgumentException">As the array overloads (kind of samples, shape, labels).</exception>
    public EvaluationResult Evaluate(SampleDataset data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var shape = data.SampleShape.ToArray();
        return data.IsTokenIds
            ? Evaluate(data.AllIds, data.AllLabels, shape, data.ClassNames, cancellationToken)
            : Evaluate(data.AllFloats, data.AllLabels, shape, data.ClassNames, cancellationToken);
    }

    private EvaluationResult EvaluateSamples<T>(ReadOnlyMemory<T> x, ReadOnlyMemory<int> labels, int[] sampleShape, TensorElementType type,
        IReadOnlyList<string>? classNames, CancellationToken ct) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (type != InputType)
            throw new ArgumentException(InputType == TensorElementType.Int64
                ? $"input '{InputName}' is int64 (token ids): pass them as long values, not floats"
                : $"input '{InputName}' is float: pass float samples, not int64 ids");
        string what = $"samples of [{string.Join(", ", sampleShape)}]";
        if (sampleShape.Length != _inputDims.Length - 1 || sampleShape.Any(d => d < 1))
            throw new ArgumentException($"input '{InputName}' expects [{DeclaredShape()}] but the {what} make [N, {string.Join(", ", sampleShape)}]");
        long[] shape = [1, .. sampleShape.Select(d => (long)d)];
        for (int i = 1; i < shape.Length; i++)
            if (_inputDims[i] is { } d && d != shape[i])
                throw new ArgumentException($"input '{InputName}' expects [{DeclaredShape()}] but got {what}");
        int size = checked(sampleShape.Aggregate(1, (a, d) => a * d));
        if ((long)labels.Length * size != x.Length)
            throw new ArgumentException($"{x.Length} values are not {labels.Length} {what}");
        void Fill(int start, int count, Span<T> dst) => x.Span.Slice(start * size, count * size).CopyTo(dst);
        return Run<T>(labels.ToArray(), size, shape, Fill, Metadata.ClassNames ?? classNames, "samples", ct);
    }

    /// <summary>The input's declared dims as text, "N" where symbolic (for messages).</summary>
    /// <summary>The input's declared dims after the batch as text, e.g. <c>N, 1, 28, 28</c> (for messages).</summary>
    public string DeclaredShape() => string.Join(", ", _inputDims.Select(x => x?.ToString(CultureInfo.InvariantCulture) ?? "N"));

    /// <summary>The input shape for a batch of one image of C x H x W, checked against the declared dims (dim 0 is then set per batch).</summary>
    /// <summary>
    /// The rate of the model's forward passes alone over as many images as <paramref name="data"/> holds: two batches
    /// of its images are normalised once into the evaluator's bound input buffers, then the passes run back to back with
    /// no data handling (the ceiling <see cref="Evaluate(ImageDataset, Normalization?, CancellationToken)"/> can reach
    /// on this device). Images per second.
    /// </summary>
    /// <exception cref="ArgumentException">The model does not take these images.</exception>
    public double ForwardImagesPerSecond(ImageDataset data, Normalization? normalization = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var norm = normalization ?? Normalization.Scale01(data.Channels);
        int n = data.Count, b = FixedBatch ?? Math.Min(Options.BatchSize, n);
        long[] shape = InputShape(data.Channels, data.Height, data.Width, data.Source);
        using var buffers = new BatchBuffers<float>(this, b, data.ImageSize, shape);
        var luts = Enumerable.Range(0, data.Channels).Select(norm.LookupTable).ToArray();
        int plane = data.Height * data.Width;
        for (int s = 0; s < 2; s++)
        {
            var dst = buffers.Input(s);
            for (int k = 0; k < b; k++)
            {
                var img = data.Image((s * b + k) % n);
                for (int i = 0; i < img.Length; i++) dst[k * img.Length + i] = luts[i / plane][img[i]];
            }
        }
        var clock = Stopwatch.StartNew();
        for (int start = 0, k = 0; start < n; start += b, k++) buffers.Forward(k & 1, Math.Min(b, n - start));
        return n / clock.Elapsed.TotalSeconds;
    }

    internal long[] InputShape(int channels, int height, int width, string source)
    {
        if (InputType != TensorElementType.Float)
            throw new ArgumentException($"input '{InputName}' is int64 (token ids), not images: evaluate it with Evaluate(ids, labels, sampleShape)");
        if (_inputDims.Length is not (2 or 4))
            throw new ArgumentException($"input '{InputName}' expects [{DeclaredShape()}], not images ([N, C, H, W] or [N, features]): evaluate it with Evaluate(samples, labels, sampleShape)");
        long[] shape = _inputDims.Length == 4 ? [1, channels, height, width] : [1, (long)channels * height * width];
        for (int i = 1; i < shape.Length; i++)
            if (_inputDims[i] is { } d && d != shape[i])
                throw new ArgumentException(
                    $"input '{InputName}' expects [{DeclaredShape()}] but {source} has images of {channels}x{height}x{width}");
        return shape;
    }

    private EvaluationResult Run<T>(int[] labels, int imageSize, long[] shape, Action<int, int, Span<T>> fill,
        IReadOnlyList<string>? names, string source, CancellationToken ct) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)Classes)
                throw new ArgumentException($"{source}: label of sample {i} is {labels[i]}, outside the model's {Classes} classes [0, {Classes})");
        if (names is not null && names.Count != Classes) names = null;
        var matrix = new ConfusionMatrix(Classes);
        var sw = Stopwatch.StartNew();
        int n = labels.Length;
        if (n > 0)
        {
            // A model exported with a fixed batch size runs every batch at that size; the rows past a short last batch are ignored.
            int batch = FixedBatch ?? Math.Min(Options.BatchSize, n);
            using var buffers = new BatchBuffers<T>(this, batch, imageSize, shape);
            buffers.Pipeline(n, fill, (slot, start, count) =>
            {
                var y = labels.AsSpan(start, count);
                if (PredictionsInGraph)
                {
                    var p = buffers.Predictions(slot, count);
                    var pi = buffers.PredictionScratch.AsSpan(0, count);
                    for (int i = 0; i < count; i++) pi[i] = (int)p[i];
                    matrix.Accumulate(y, pi);
                }
                else matrix.AccumulateLogits(y, buffers.Logits(slot, count), Options.NanPolicy);
            }, ct);
        }
        sw.Stop();
        return new EvaluationResult(matrix, ClassificationReport.Create(matrix, names), n, sw.Elapsed);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
        _runOptions.Dispose();
    }

    /// <summary>
    /// Two input slots (reused pinned float buffers with their OrtValues and IOBindings), the output buffers bound to them,
    /// and the producer/consumer loop that overlaps filling one slot with running the other.
    /// </summary>
    internal sealed class BatchBuffers<T> : IDisposable where T : unmanaged
    {
        private readonly Evaluator _owner;
        private readonly int _batch, _imageSize;
        private readonly long[] _shape;
        private readonly T[][] _inputs = new T[2][];
        private readonly long[][] _predictions = new long[2][];
        private readonly float[][] _logits = new float[2][];
        private readonly Slot?[] _full = new Slot?[2];
        private readonly Slot?[] _tail = new Slot?[2];
        private int _tailCount = -1;

        public BatchBuffers(Evaluator owner, int batch, int imageSize, long[] shape)
        {
            _owner = owner;
            _batch = batch;
            _imageSize = imageSize;
            _shape = shape;
            PredictionScratch = new int[batch];
            for (int s = 0; s < 2; s++)
            {
                _inputs[s] = GC.AllocateArray<T>(batch * imageSize, pinned: true);
                if (owner.PredictionsInGraph) _predictions[s] = GC.AllocateArray<long>(batch, pinned: true);
                else _logits[s] = GC.AllocateArray<float>(batch * owner.Classes, pinned: true);
            }
        }

        public int[] PredictionScratch { get; }

        /// <summary>Host view of slot <paramref name="slot"/>'s input buffer (for callers that fill it themselves).</summary>
        public T[] Input(int slot) => _inputs[slot];

        public ReadOnlySpan<long> Predictions(int slot, int count) => _predictions[slot].AsSpan(0, count);

        public ReadOnlySpan<float> Logits(int slot, int count) => _logits[slot].AsSpan(0, count * _owner.Classes);

        /// <summary>Runs the forward pass of slot <paramref name="slot"/> on its first <paramref name="count"/> images.</summary>
        public void Forward(int slot, int count)
        {
            if (_owner.FixedBatch is not null) count = _batch;
            var s = count == _batch ? (_full[slot] ??= CreateSlot(slot, count)) : TailSlot(slot, count);
            try { _owner._session.RunWithBinding(_owner._runOptions, s.Binding); }
            catch (OnnxRuntimeException e)
            {
                // The declared input shape admits these images (checked before), yet the graph fails on them, e.g. a
                // Reshape that wants another image size behind symbolic dims.
                var dims = string.Join(", ", _owner._inputDims.Select(d => d?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"));
                throw new InvalidDataException($"{_owner._source}: ONNX Runtime failed on a batch of {count} samples of shape [N, {string.Join(", ", _shape.Skip(1))}] " +
                    $"fed to input '{_owner.InputName}' (declared [{dims}]): {e.Message.Split('\n')[0].Trim()}", e);
            }
        }

        private Slot TailSlot(int slot, int count)
        {
            if (_tailCount != count)
            {
                for (int i = 0; i < 2; i++) { _tail[i]?.Dispose(); _tail[i] = null; }
                _tailCount = count;
            }
            return _tail[slot] ??= CreateSlot(slot, count);
        }

        private Slot CreateSlot(int slot, int count)
        {
            var shape = (long[])_shape.Clone();
            shape[0] = count;
            var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _inputs[slot].AsMemory(0, count * _imageSize), shape);
            OrtValue? output = null;
            OrtIoBinding? binding = null;
            try
            {
                output = _owner.PredictionsInGraph
                    ? OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _predictions[slot].AsMemory(0, count), [count])
                    : OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _logits[slot].AsMemory(0, count * _owner.Classes), [count, _owner.Classes]);
                binding = _owner._session.CreateIoBinding();
                binding.BindInput(_owner.InputName, input);
                binding.BindOutput(_owner._fetchName, output);
                return new Slot(input, output, binding);
            }
            catch
            {
                binding?.Dispose();
                output?.Dispose();
                input.Dispose();
                throw;
            }
        }

        /// <summary>
        /// Fills batches of <paramref name="n"/> images on a background task (at most two ahead, one per slot) while this
        /// thread runs the forward pass of the other slot and then calls <paramref name="consume"/> (slot, start, count).
        /// </summary>
        public void Pipeline(int n, Action<int, int, Span<T>> fill, Action<int, int, int> consume, CancellationToken ct)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var free = new BlockingCollection<int>(2) { 0, 1 };
            using var ready = new BlockingCollection<(int Slot, int Start, int Count)>(2);
            var producer = Task.Run(() =>
            {
                try
                {
                    for (int start = 0; start < n; start += _batch)
                    {
                        int slot = free.Take(cts.Token), count = Math.Min(_batch, n - start);
                        fill(start, count, _inputs[slot].AsSpan(0, count * _imageSize));
                        ready.Add((slot, start, count), cts.Token);
                    }
                }
                finally { ready.CompleteAdding(); }
            }, cts.Token);
            try
            {
                foreach (var (slot, start, count) in ready.GetConsumingEnumerable(cts.Token))
                {
                    Forward(slot, count);
                    consume(slot, start, count);
                    free.Add(slot, cts.Token);
                }
            }
            catch
            {
                cts.Cancel();
                try { producer.Wait(CancellationToken.None); } catch (AggregateException) { }
                throw;
            }
            try { producer.GetAwaiter().GetResult(); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw new OperationCanceledException(ct); }
        }

        public void Dispose()
        {
            for (int i = 0; i < 2; i++)
            {
                _full[i]?.Dispose();
                _tail[i]?.Dispose();
            }
        }

        private sealed record Slot(OrtValue Input, OrtValue Output, OrtIoBinding Binding) : IDisposable
        {
            public void Dispose()
            {
                Binding.Dispose();
                Output.Dispose();
                Input.Dispose();
            }
        }
    }
}
