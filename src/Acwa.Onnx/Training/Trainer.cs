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
/// next epoch's weights from the validation report, or with <see cref="TrainerOptions.Feedback"/> =
/// <see cref="FeedbackSource.Training"/> from the report of the epoch's training predictions -> checkpoint. The test split is evaluated at the end (and optionally every epoch).
/// </summary>
/// <remarks>
/// <para>Determinism and resume: the training order and augmentation are pure functions of (seed, epoch, batch)
/// (<see cref="BatchLoader"/>), Dropout masks of (seed, run) (<see cref="StepRunnerOptions.DropoutSeed"/>), learning rates
/// of the step number, and the policy's state is saved exactly. A checkpoint written after epoch k therefore lets
/// <see cref="Resume"/> continue with epoch k + 1 exactly as an uninterrupted run would; on the CPU with one intra-op
/// thread the final parameters are bit-identical.</para>
/// <para>Checkpoints (<see cref="TrainerOptions.CheckpointPath"/>) are written atomically after every epoch, every
/// <see cref="TrainerOptions.CheckpointEverySteps"/> steps if set, and when the run is cancelled (at the next step
/// boundary); a mid-epoch checkpoint holds the loader's position and the epoch's running sums, so a resumed run continues
/// with the next batch.</para>
/// <para>The divergence rule (<see cref="TrainerOptions.DivergenceFactor"/>: a NaN or infinite loss, or a moving mean loss
/// above k times the untrained model's) stops the run with <see cref="TrainingDivergedException"/>; a checkpoint is written
/// only for states the rule accepts, so the last one stays good.</para>
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
    private readonly DivergenceMonitor _divergence;
    // Where a mid-epoch checkpoint left the epoch in progress (set by Resume, used by the next RunEpoch).
    private EpochPosition? _resumePosition;

    /// <summary>
    /// An epoch in progress: the next batch and the running sums of the batches before it; with training feedback, the
    /// confusion counts of their training predictions (row-major <c>[C, C]</c>; distributed, summed over the ranks).
    /// </summary>
    private sealed record EpochPosition(int Epoch, int NextBatch, double LossSum, long Samples, long Correct, long[]? TrainConfusion = null);

    // With FeedbackSource.Training: the confusion matrix of this epoch's training predictions so far (this rank's, distributed).
    private ConfusionMatrix? _trainConfusion;

    /// <summary>
    /// Creates a trainer over image splits. The runner's sample size must equal the datasets' image size and its class count
    /// theirs; the policy must be for the same number of classes. The runner must have a <c>class_weights</c> control, and for an
    /// <see cref="ILogitOffsetPolicy"/> a <c>log_prior</c> control (the logit-adjusted loss), which then follows the policy's offsets.
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
        if (policy is ILogitOffsetPolicy && !runner.HasControl(ControlRoles.LogPrior))
            throw new ArgumentException($"policy '{policy.Spec}' moves the logit-adjustment offsets (the '{ControlRoles.LogPrior}' control input), " +
                $"but the training graph of '{runner.ArtifactDir}' (loss '{runner.Manifest.Loss}') has none: train it with the logit-adjusted loss (--loss la)", nameof(policy));
        _runner = runner; _policy = policy;
        ApplyOffsets();
        (_trainLoader, _validationLoader, _testLoader) = loaders;
        Options = options;
        _logger = logger ?? NullLogger.Instance;
        _schedule = options.Schedule ?? new ConstantSchedule(1e-3);
        if (_trainLoader.BatchesPerEpoch == 0)
            throw new ArgumentException($"the train split has {_trainLoader.Dataset.Count} samples, fewer than one batch of {options.BatchSize} with drop-last");
        _trainCounts = _trainLoader.Dataset.ClassCounts().Select(v => (long)v).ToArray();
        _divergence = new DivergenceMonitor(options.DivergenceFactor, Math.Min(options.DivergenceWindow, _trainLoader.BatchesPerEpoch), c);
        _comm = SetUpDistributed(options.Communicator);
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

    /// <summary>After <see cref="Resume"/> from a mid-epoch checkpoint: the epoch in progress and the batch it continues with (0-based), until that epoch runs; else null.</summary>
    public (int Epoch, int NextBatch)? ResumePosition => _resumePosition is { } p ? (p.Epoch, p.NextBatch) : null;

    /// <summary>Training batches per epoch.</summary>
    public int BatchesPerEpoch => _trainLoader.BatchesPerEpoch;

    /// <summary>Results of the epochs run by this trainer object, in order.</summary>
    public IReadOnlyList<EpochResult> History => _history;

    /// <summary>Raised after every training step (and its checkpoint, when one was due).</summary>
    public event EventHandler<StepProgress>? StepCompleted;

    /// <summary>Raised after every epoch, once its checkpoint (if any) is written.</summary>
    public event EventHandler<EpochResult>? EpochCompleted;

    /// <summary>
    /// Runs the remaining epochs (from <see cref="CompletedEpochs"/> to <see cref="TrainerOptions.Epochs"/>), then evaluates
    /// the test split if there is one. Cancellation is checked before every step and every evaluation batch; a cancelled
    /// run writes a checkpoint of that point (with a <see cref="TrainerOptions.CheckpointPath"/>) and throws
    /// <see cref="TrainingInterruptedException"/>; <see cref="Resume"/> continues from it.
    /// </summary>
    /// <exception cref="TrainingDivergedException">The divergence rule stopped the run.</exception>
    /// <exception cref="TrainingInterruptedException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public TrainingResult Run(CancellationToken cancellationToken = default)
    {
        var total = Stopwatch.StartNew();
        var results = new List<EpochResult>();
        Log.Start(_logger, _runner.ArtifactDir, _runner.Device.ToString(), Options.Epochs, CompletedEpochs, _policy.Spec, _schedule.Spec, null);
        BroadcastInitialState();
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
            (testCm, _, _) = EvaluateSplit(_testLoader, cancellationToken, _comm is null ? () => Interrupted(Options.Epochs, 0, cancellationToken, save: false) : null);
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
        ApplyOffsets();

        long totalSteps = (long)Options.Epochs * BatchesPerEpoch;
        var at = _resumePosition is { } resumed && resumed.Epoch == epoch ? resumed : new EpochPosition(epoch, 0, 0, 0, 0);
        _resumePosition = null;
        if (Options.Feedback == FeedbackSource.Training)
        {
            // Distributed, a resumed position holds every rank's counts (summed when it was saved): rank 0 takes them on,
            // the others start from zero, so the epoch's all-reduce counts each training prediction once.
            _trainConfusion = at.TrainConfusion is { } counts && Rank == 0
                ? ConfusionMatrix.FromCounts(_runner.NumClasses, counts)
                : new ConfusionMatrix(_runner.NumClasses);
        }
        double lossSum = at.LossSum;
        long samples = at.Samples, correct = at.Correct;
        double lr = at.NextBatch > 0 ? _schedule.LearningRate(GlobalStep - 1, BatchesPerEpoch, totalSteps) : double.NaN;
        float lastLr = float.NaN;
        int every = Options.CheckpointEverySteps;
        double midEpochCheckpointSec = 0;
        var trainClock = Stopwatch.StartNew();
        // The loader is not given the token: the loop stops at a step boundary itself, with a checkpoint of that point.
        var batches = Options.Prefetch ? _trainLoader.Prefetch(epoch, at.NextBatch) : _trainLoader.Epoch(epoch, at.NextBatch);
        foreach (var batch in batches)
        {
            using (batch)
            {
                // Distributed, a rank's cancellation travels with the step's sums and stops every rank after the same step.
                if (_comm is null && ct.IsCancellationRequested) throw Interrupted(epoch, batch.Index, ct, save: true, Position(epoch, batch.Index, lossSum, samples, correct));
                lr = _schedule.LearningRate(GlobalStep, BatchesPerEpoch, totalSteps);
                float lr32 = (float)lr;
                if (lr32 != lastLr) { _runner.SetLearningRate(lr32); lastLr = lr32; }
                float loss;
                int count = batch.Count;
                bool stopAll = false;
                if (_comm is null)
                {
                    var res = batch.Ids.Length > 0 ? _runner.TrainStep(batch.Ids, batch.Labels, batch.Count) : _runner.TrainStep(batch.Images, batch.Labels, batch.Count);
                    loss = res.Loss;
                    var preds = res.Predictions;
                    for (int i = 0; i < preds.Length; i++) if (preds[i] == batch.Labels[i]) correct++;
                    _trainConfusion?.Accumulate(batch.Labels.AsSpan(0, preds.Length), preds);
                }
                else
                {
                    var g = DistributedStep(batch, ct.IsCancellationRequested);
                    (loss, count, stopAll) = (g.Loss, (int)g.Count, g.Stop);
                    correct += g.Correct;
                }
                GlobalStep++;
                // Distributed, the loss is the global batch's (all-reduced), so every rank takes the same decision.
                if (_divergence.Observe(loss) is { } reason) throw Diverged(reason, epoch, batch.Index, loss);
                lossSum += (double)loss * count;
                samples += count;
                if (every > 0 && GlobalStep % every == 0)
                {
                    if (_divergence.Check(lossSum / samples, "the mean loss of the epoch so far") is { } r) throw Diverged(r, epoch, batch.Index, lossSum / samples);
                    long t0 = Stopwatch.GetTimestamp();
                    SaveCheckpoint(Position(epoch, batch.Index + 1, lossSum, samples, correct));
                    midEpochCheckpointSec += Stopwatch.GetElapsedTime(t0).TotalSeconds;
                }
                StepCompleted?.Invoke(this, new StepProgress(epoch, batch.Index, BatchesPerEpoch, GlobalStep, loss, lr, count));
                if (stopAll) throw Interrupted(epoch, batch.Index + 1, ct, save: true, Position(epoch, batch.Index + 1, lossSum, samples, correct));
            }
        }
        double trainSec = trainClock.Elapsed.TotalSeconds - midEpochCheckpointSec;
        double epochLoss = samples > 0 ? lossSum / samples : 0;
        if (_divergence.Check(epochLoss, "the epoch's mean loss") is { } why) throw Diverged(why, epoch, BatchesPerEpoch - 1, epochLoss);

        var interruptedAt = Position(epoch, BatchesPerEpoch, lossSum, samples, correct);
        var (cm, forwardSec, metricsSec) = EvaluateSplit(_validationLoader, ct, _comm is null ? () => Interrupted(epoch, BatchesPerEpoch, ct, save: true, interruptedAt) : null);
        var clock = Stopwatch.StartNew();
        var report = ClassificationReport.Create(cm, _validationLoader.Dataset.ClassNames);
        ClassificationReport? trainReport = null;
        if (_trainConfusion is { } trainCm)
        {
            if (_comm is not null) trainCm.AllReduceSum(_comm); // each rank predicted its slice of every batch
            trainReport = ClassificationReport.Create(trainCm, _trainLoader.Dataset.ClassNames);
        }
        metricsSec += clock.Elapsed.TotalSeconds;

        clock.Restart();
        var feedback = trainReport is null
            ? EpochFeedback.FromReport(epoch, Options.Epochs, report, _trainCounts)
            : EpochFeedback.FromReport(epoch, Options.Epochs, trainReport, _trainCounts, FeedbackSource.Training);
        var next = _policy.Update(feedback);
        double policySec = clock.Elapsed.TotalSeconds;
        CheckSameWeights(next);

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
        var partial = new EpochResult(epoch, epochLoss, samples > 0 ? (double)correct / samples : 0, lr,
            weights, next, report, cm, test, GlobalStep, new EpochTimings(0, trainSec, forwardSec, metricsSec, policySec, testSec, 0));
        double checkpointSec = midEpochCheckpointSec;
        if (Options.CheckpointPath is not null)
        {
            clock.Restart();
            SaveCheckpoint(null, partial);
            checkpointSec += clock.Elapsed.TotalSeconds;
        }
        var result = partial with
        {
            Timings = partial.Timings with { Total = epochClock.Elapsed.TotalSeconds, Checkpoint = checkpointSec },
        };
        Log.Epoch(_logger, epoch + 1, Options.Epochs, result.TrainLoss, report.MacroF1, result.Timings.Total, result.Timings.AcwaOverhead * 1000, null);
        return result;
    }

    /// <summary>The position of the epoch in progress, with a copy of its training confusion counts (training feedback).</summary>
    private EpochPosition Position(int epoch, int nextBatch, double lossSum, long samples, long correct) =>
        new(epoch, nextBatch, lossSum, samples, correct, _trainConfusion?.Counts.ToArray());

    /// <summary>
    /// For an <see cref="ILogitOffsetPolicy"/>: puts its offsets for the next epoch into the <c>log_prior</c> control (as float).
    /// Called at construction and at the start of every epoch, so a resumed run trains with the restored policy's offsets.
    /// </summary>
    private void ApplyOffsets()
    {
        if (_policy is not ILogitOffsetPolicy p) return;
        var offsets = p.LogitOffsets;
        var o32 = new float[offsets.Length];
        for (int i = 0; i < o32.Length; i++) o32[i] = (float)offsets[i];
        _runner.SetControl(ControlRoles.LogPrior, o32);
    }

    // Completed epochs recorded by the last checkpoint written (for the divergence message).
    private int? _checkpointEpochs;

    private void SaveCheckpoint(EpochPosition? position, EpochResult? finished = null)
    {
        if (Options.CheckpointPath is not { } path) return;
        // Distributed, every rank reaches a mid-epoch checkpoint at the same step: rank 0 saves the counts of all ranks.
        if (_comm is not null && position?.TrainConfusion is { } counts) _comm.AllReduceSum(counts);
        if (Writes) _runner.SaveCheckpoint(path, CheckpointMeta(finished, position));
        _checkpointEpochs = CompletedEpochs;
    }

    private TrainingDivergedException Diverged(string reason, int epoch, int batch, double loss)
    {
        var ck = _checkpointEpochs is not null || (Options.CheckpointPath is { } p && File.Exists(p)) ? Path.GetFullPath(Options.CheckpointPath!) : null;
        var ex = new TrainingDivergedException(reason, epoch, batch, GlobalStep, loss, ck, ck is null ? null : _checkpointEpochs ?? CompletedEpochs);
        Log.Diverged(_logger, ex.Message, null);
        return ex;
    }

    /// <summary>The exception of a cancelled run, after writing the checkpoint of <paramref name="position"/> when asked.</summary>
    private TrainingInterruptedException Interrupted(int epoch, int nextBatch, CancellationToken ct, bool save, EpochPosition? position = null)
    {
        string? written = null;
        if (Options.CheckpointPath is { } path)
        {
            if (save) SaveCheckpoint(position);
            written = File.Exists(path) ? Path.GetFullPath(path) : null;
        }
        return new TrainingInterruptedException(epoch, nextBatch, BatchesPerEpoch, GlobalStep, written, ct);
    }

    /// <summary>Confusion matrix of a split, seconds in the forward pass (with loading) and in the metrics kernels.</summary>
    private (ConfusionMatrix Matrix, double ForwardSeconds, double MetricsSeconds) EvaluateSplit(BatchLoader loader,
        CancellationToken ct = default, Func<Exception>? interrupted = null)
    {
        var cm = new ConfusionMatrix(_runner.NumClasses);
        long metricsTicks = 0;
        long start = Stopwatch.GetTimestamp();
        foreach (var batch in loader.Sequential())
        {
            using (batch)
            {
                if (interrupted is not null && ct.IsCancellationRequested) throw interrupted();
                var ev = batch.Ids.Length > 0 ? _runner.Evaluate(batch.Ids, batch.Count) : _runner.Evaluate(batch.Images, batch.Count);
                long t = Stopwatch.GetTimestamp();
                cm.Accumulate(batch.Labels, ev.Predictions);
                metricsTicks += Stopwatch.GetTimestamp() - t;
            }
        }
        if (loader.Parts > 1) cm.AllReduceSum(_comm!); // each rank evaluated its shard
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
