using System.Diagnostics;
using Acwa.Onnx.Data;
using Acwa.Onnx.Metrics;
using Acwa.Onnx.Training.Runtime;
using Acwa.Onnx.Weighting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Acwa.Onnx.Training;

/// <summary>
/// The ACWA epoch loop over a <see cref="StepRunner"/>: train steps with the current class weights as a loss input ->
/// evaluate the validation split -> confusion matrix and per-class metrics -> the <see cref="IClassWeightPolicy"/> sets the
/// next epoch's weights -> checkpoint. The test split is evaluated at the end (and optionally every epoch).
/// </summary>
/// <remarks>
/// <para>Determinism and resume: the training order and augmentation are pure functions of (seed, epoch, batch)
/// (<see cref="BatchLoader"/>), Dropout masks of (seed, run) (<see cref="StepRunnerOptions.DropoutSeed"/>), learning rates
/// of the step number, and the policy's state is saved exactly. A checkpoint written after epoch k therefore lets
/// <see cref="Resume"/> continue with epoch k + 1 exactly as an uninterrupted run would; on the CPU with one intra-op
/// thread the final parameters are bit-identical.</para>
/// <para>A NaN or infinite loss stops the run with <see cref="NonFiniteLossException"/>; the last checkpoint (last good
/// epoch) stays intact because checkpoints are written atomically and only after a finished epoch.</para>
/// <para>Not thread-safe. Events are raised on the calling thread.</para>
/// </remarks>
public sealed partial class Trainer
{
    private readonly StepRunner _runner;
    private readonly IClassWeightPolicy _policy;
    private readonly ILogger _logger;
    private readonly BatchLoader _trainLoader;
    private readonly BatchLoader _validationLoader;
    private readonly BatchLoader? _testLoader;
    private readonly ILearningRateSchedule _schedule;
    private readonly long[] _trainCounts;
    private readonly List<EpochResult> _history = [];

    /// <summary>
    /// Creates a trainer over image splits. The runner's sample size must equal the datasets' image size and its class count
    /// theirs; the policy must be for the same number of classes. The runner must have a <c>class_weights</c> control.
    /// </summary>
    public Trainer(StepRunner runner, ImageDataset train, ImageDataset validation, IClassWeightPolicy policy, TrainerOptions options,
        ImageDataset? test = null, ILogger? logger = null)
        : this(runner, policy, options, logger, Loaders(runner, options, train, validation, test,
            (d, o) => new BatchLoader(d, o), d => d.ImageSize, "image", tokenIds: false))
    {
    }

    /// <summary>
    /// Creates a trainer over splits of fixed-size samples that are not images (float features or sequences, or token ids for
    /// a model whose input is int64), fed as they are: <see cref="TrainerOptions.Normalization"/> and
    /// <see cref="TrainerOptions.Augmentation"/> must be null. Otherwise as the image constructor.
    /// </summary>
    public Trainer(StepRunner runner, SampleDataset train, SampleDataset validation, IClassWeightPolicy policy, TrainerOptions options,
        SampleDataset? test = null, ILogger? logger = null)
        : this(runner, policy, options, logger, Loaders(runner, options, train, validation, test,
            (d, o) => new BatchLoader(d, o), d => d.SampleSize, "sample", tokenIds: train?.IsTokenIds ?? false))
    {
    }

    private Trainer(StepRunner runner, IClassWeightPolicy policy, TrainerOptions options, ILogger? logger,
        (BatchLoader Train, BatchLoader Validation, BatchLoader? Test) loaders)
    {
        ArgumentNullException.ThrowIfNull(policy);
        int c = runner.NumClasses;
        if (policy.NumClasses != c) throw new ArgumentException($"policy '{policy.Spec}' is for {policy.NumClasses} classes, the model has {c}", nameof(policy));
        if (!runner.HasControl(ControlRoles.ClassWeights))
            throw new ArgumentException($"the training graph of '{runner.ArtifactDir}' has no '{ControlRoles.ClassWeights}' control input, so class weights cannot be applied", nameof(runner));
        _runner = runner; _policy = policy;
        (_trainLoader, _validationLoader, _testLoader) = loaders;
        Options = options;
        _logger = logger ?? NullLogger.Instance;
        _schedule = options.Schedule ?? new ConstantSchedule(1e-3);
        if (_trainLoader.BatchesPerEpoch == 0)
            throw new ArgumentException($"the train split has {_trainLoader.Dataset.Count} samples, fewer than one batch of {options.BatchSize} with drop-last");
        _trainCounts = _trainLoader.Dataset.ClassCounts().Select(v => (long)v).ToArray();
    }

    /// <summary>Checks the splits against the runner and makes their loaders (train shuffled and augmented, the others in order).</summary>
    private static (BatchLoader, BatchLoader, BatchLoader?) Loaders<T>(StepRunner runner, TrainerOptions options, T train, T validation, T? test,
        Func<T, BatchLoaderOptions, BatchLoader> loader, Func<T, long> sampleSize, string unit, bool tokenIds) where T : class, ILabeledDataset
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        bool modelTakesIds = runner.InputType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64;
        if (modelTakesIds != tokenIds)
            throw new ArgumentException(modelTakesIds
                ? $"the model's input is int64 (token ids); the train split ({train}) holds {(train is ImageDataset ? "images" : "float samples")}: give it a SampleDataset of token ids"
                : $"the model's input is {runner.InputType}; the train split ({train}) holds token ids", nameof(runner));
        int c = runner.NumClasses;
        foreach (var (name, d) in new[] { ("train", train), ("validation", validation), ("test", test) })
        {
            if (d is null) continue;
            if (sampleSize(d) != runner.SampleSize)
                throw new ArgumentException($"the {name} split ({d}) has {sampleSize(d)} values per {unit}, the model takes {runner.SampleSize}");
            if (d.ClassCount != c)
                throw new ArgumentException($"the {name} split ({d}) has {d.ClassCount} classes, the model has {c}");
            if (d is SampleDataset s && s.IsTokenIds != tokenIds)
                throw new ArgumentException($"the {name} split ({d}) and the train split ({train}) hold different kinds of samples");
        }
        var trainLoader = loader(train, new BatchLoaderOptions(options.BatchSize, Shuffle: true, options.DropLast, options.Seed, options.Normalization, options.Augmentation));
        var evalOptions = new BatchLoaderOptions(options.BatchSize, Shuffle: false, DropLast: false, options.Seed, options.Normalization, Augmentation: null);
        return (trainLoader, loader(validation, evalOptions), test is null ? null : loader(test, evalOptions));
    }

    /// <summary>The settings.</summary>
    public TrainerOptions Options { get; }

    /// <summary>The runner (its state is the model being trained).</summary>
    public StepRunner Runner => _runner;

    /// <summary>The class-weight policy.</summary>
    public IClassWeightPolicy Policy => _policy;

    /// <summary>Epochs finished so far (restored by <see cref="Resume"/>).</summary>
    public int CompletedEpochs { get; private set; }

    /// <summary>Training steps done so far in the whole run (restored by <see cref="Resume"/>).</summary>
    public long GlobalStep { get; private set; }

    /// <summary>Training batches per epoch.</summary>
    public int BatchesPerEpoch => _trainLoader.BatchesPerEpoch;

    /// <summary>Results of the epochs run by this trainer object, in order.</summary>
    public IReadOnlyList<EpochResult> History => _history;

    /// <summary>Raised after every training step.</summary>
    public event EventHandler<StepProgress>? StepCompleted;

    /// <summary>Raised after every epoch, once its checkpoint (if any) is written.</summary>
    public event EventHandler<EpochResult>? EpochCompleted;

    /// <summary>
    /// Runs the remaining epochs (from <see cref="CompletedEpochs"/> to <see cref="TrainerOptions.Epochs"/>), then evaluates
    /// the test split if there is one. Cancellation is checked before every step; a cancelled run throws
    /// <see cref="OperationCanceledException"/> and leaves the last epoch's checkpoint for <see cref="Resume"/>.
    /// </summary>
    /// <exception cref="NonFiniteLossException">A step's loss was NaN or infinite.</exception>
    public TrainingResult Run(CancellationToken cancellationToken = default)
    {
        var total = Stopwatch.StartNew();
        var results = new List<EpochResult>();
        Log.Start(_logger, _runner.ArtifactDir, _runner.Device.ToString(), Options.Epochs, CompletedEpochs, _policy.Spec, _schedule.Spec, null);
        for (int e = CompletedEpochs; e < Options.Epochs; e++)
        {
            var r = RunEpoch(e, cancellationToken);
            results.Add(r);
            _history.Add(r);
            EpochCompleted?.Invoke(this, r);
        }
        ClassificationReport? test = null;
        ConfusionMatrix? testCm = null;
        if (_testLoader is not null)
        {
            (testCm, _, _) = EvaluateSplit(_testLoader);
            test = ClassificationReport.Create(testCm, _testLoader.Dataset.ClassNames);
            Log.Test(_logger, test.Accuracy, test.MacroF1, test.BalancedAccuracy, null);
        }
        return new TrainingResult(results, test, testCm, _policy.Current.ToArray(), total.Elapsed.TotalSeconds);
    }

    /// <summary>Evaluates <paramref name="data"/> with the current parameters (no augmentation, dataset order).</summary>
    public (ClassificationReport Report, ConfusionMatrix Confusion) Evaluate(ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.ImageSize != _runner.SampleSize) throw new ArgumentException($"{data} has {data.ImageSize} values per image, the model takes {_runner.SampleSize}", nameof(data));
        var (cm, _, _) = EvaluateSplit(new BatchLoader(data, EvalLoaderOptions(Options.Normalization)));
        return (ClassificationReport.Create(cm, data.ClassNames), cm);
    }

    /// <inheritdoc cref="Evaluate(ImageDataset)"/>
    public (ClassificationReport Report, ConfusionMatrix Confusion) Evaluate(SampleDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.SampleSize != _runner.SampleSize) throw new ArgumentException($"{data} has {data.SampleSize} values per sample, the model takes {_runner.SampleSize}", nameof(data));
        if (data.IsTokenIds != (_runner.InputType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64))
            throw new ArgumentException($"{data}: the model's input is {_runner.InputType}", nameof(data));
        var (cm, _, _) = EvaluateSplit(new BatchLoader(data, EvalLoaderOptions(null)));
        return (ClassificationReport.Create(cm, data.ClassNames), cm);
    }

    private BatchLoaderOptions EvalLoaderOptions(Normalization? normalization) =>
        new(Options.BatchSize, Shuffle: false, DropLast: false, Options.Seed, normalization, Augmentation: null);

    private EpochResult RunEpoch(int epoch, CancellationToken ct)
    {
        var epochClock = Stopwatch.StartNew();
        var weights = _policy.Current.ToArray();
        var w32 = new float[weights.Length];
        for (int i = 0; i < w32.Length; i++) w32[i] = (float)weights[i];
        _runner.SetClassWeights(w32);

        long totalSteps = (long)Options.Epochs * BatchesPerEpoch;
        double lossSum = 0, lr = double.NaN;
        long samples = 0, correct = 0;
        float lastLr = float.NaN;
        var trainClock = Stopwatch.StartNew();
        var batches = Options.Prefetch ? _trainLoader.Prefetch(epoch, 0, ct) : _trainLoader.Epoch(epoch);
        foreach (var batch in batches)
        {
            using (batch)
            {
                ct.ThrowIfCancellationRequested();
                lr = _schedule.LearningRate(GlobalStep, BatchesPerEpoch, totalSteps);
                float lr32 = (float)lr;
                if (lr32 != lastLr) { _runner.SetLearningRate(lr32); lastLr = lr32; }
                var res = batch.Ids.Length > 0 ? _runner.TrainStep(batch.Ids, batch.Labels, batch.Count) : _runner.TrainStep(batch.Images, batch.Labels, batch.Count);
                GlobalStep++;
                if (!float.IsFinite(res.Loss))
                {
                    var ck = Options.CheckpointPath is { } p && File.Exists(p) ? Path.GetFullPath(p) : null;
                    var ex = new NonFiniteLossException(epoch, batch.Index, GlobalStep, res.Loss, ck);
                    Log.Diverged(_logger, ex.Message, null);
                    throw ex;
                }
                lossSum += (double)res.Loss * batch.Count;
                samples += batch.Count;
                var preds = res.Predictions;
                for (int i = 0; i < preds.Length; i++) if (preds[i] == batch.Labels[i]) correct++;
                StepCompleted?.Invoke(this, new StepProgress(epoch, batch.Index, BatchesPerEpoch, GlobalStep, res.Loss, lr, batch.Count));
            }
        }
        double trainSec = trainClock.Elapsed.TotalSeconds;

        var (cm, forwardSec, metricsSec) = EvaluateSplit(_validationLoader);
        var clock = Stopwatch.StartNew();
        var report = ClassificationReport.Create(cm, _validationLoader.Dataset.ClassNames);
        metricsSec += clock.Elapsed.TotalSeconds;

        clock.Restart();
        var feedback = EpochFeedback.FromReport(epoch, Options.Epochs, report, _trainCounts);
        var next = _policy.Update(feedback);
        double policySec = clock.Elapsed.TotalSeconds;

        ClassificationReport? test = null;
        double testSec = 0;
        if (Options.EvaluateTestEachEpoch && _testLoader is not null)
        {
            clock.Restart();
            var (tcm, _, _) = EvaluateSplit(_testLoader);
            test = ClassificationReport.Create(tcm, _testLoader.Dataset.ClassNames);
            testSec = clock.Elapsed.TotalSeconds;
        }

        CompletedEpochs = epoch + 1;
        var partial = new EpochResult(epoch, samples > 0 ? lossSum / samples : 0, samples > 0 ? (double)correct / samples : 0, lr,
            weights, next, report, cm, test, GlobalStep, new EpochTimings(0, trainSec, forwardSec, metricsSec, policySec, testSec, 0));
        double checkpointSec = 0;
        if (Options.CheckpointPath is { } path)
        {
            clock.Restart();
            _runner.SaveCheckpoint(path, CheckpointMeta(partial));
            checkpointSec = clock.Elapsed.TotalSeconds;
        }
        var result = partial with
        {
            Timings = partial.Timings with { Total = epochClock.Elapsed.TotalSeconds, Checkpoint = checkpointSec },
        };
        Log.Epoch(_logger, epoch + 1, Options.Epochs, result.TrainLoss, report.MacroF1, result.Timings.Total, result.Timings.AcwaOverhead * 1000, null);
        return result;
    }

    /// <summary>Confusion matrix of a split, seconds in the forward pass (with loading) and in the metrics kernels.</summary>
    private (ConfusionMatrix Matrix, double ForwardSeconds, double MetricsSeconds) EvaluateSplit(BatchLoader loader)
    {
        var cm = new ConfusionMatrix(_runner.NumClasses);
        long metricsTicks = 0;
        long start = Stopwatch.GetTimestamp();
        foreach (var batch in loader.Sequential())
        {
            using (batch)
            {
                var ev = batch.Ids.Length > 0 ? _runner.Evaluate(batch.Ids, batch.Count) : _runner.Evaluate(batch.Images, batch.Count);
                long t = Stopwatch.GetTimestamp();
                cm.Accumulate(batch.Labels, ev.Predictions);
                metricsTicks += Stopwatch.GetTimestamp() - t;
            }
        }
        long all = Stopwatch.GetTimestamp() - start;
        return (cm, (double)(all - metricsTicks) / Stopwatch.Frequency, (double)metricsTicks / Stopwatch.Frequency);
    }

    private static class Log
    {
        public static readonly Action<ILogger, string, string, int, int, string, string, Exception?> Start =
            LoggerMessage.Define<string, string, int, int, string, string>(LogLevel.Information, new EventId(1, "TrainStart"),
                "Training {Artifacts} on {Device}: {Epochs} epochs (starting after epoch {Completed}), policy {Policy}, schedule {Schedule}");
        public static readonly Action<ILogger, int, int, double, double, double, double, Exception?> Epoch =
            LoggerMessage.Define<int, int, double, double, double, double>(LogLevel.Information, new EventId(2, "Epoch"),
                "Epoch {Epoch}/{Epochs}: train loss {Loss:F4}, val macro-F1 {MacroF1:F4}, {Seconds:F2} s, ACWA overhead {OverheadMs:F3} ms");
        public static readonly Action<ILogger, double, double, double, Exception?> Test =
            LoggerMessage.Define<double, double, double>(LogLevel.Information, new EventId(3, "Test"),
                "Test: acc {Accuracy:F4}, macro-F1 {MacroF1:F4}, balanced acc {BalancedAccuracy:F4}");
        public static readonly Action<ILogger, string, Exception?> Diverged =
            LoggerMessage.Define<string>(LogLevel.Error, new EventId(4, "Diverged"), "{Message}");
    }
}
