using System.Text.Json.Nodes;
using Acwa.Onnx.Data;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.IO;
using Acwa.Onnx.Models;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;
using Acwa.Onnx.Weighting;

namespace Acwa.Onnx.Training.Runs;

/// <summary>
/// One training run end to end, as <c>acwa train</c> does it: the data (the dataset's train/test split, the imbalance
/// protocol on the training data, a stratified validation split), the model (built in or a file), its training artifacts,
/// a <see cref="Trainer"/> with a class-weight policy, and the run folder (config.json, per-epoch metrics and weights, the
/// checkpoint, model.onnx with the trained weights, test_report.json, confusion_matrix.csv).
/// <code>
/// using var run = TrainingRun.Prepare(new TrainingRunOptions { Model = "cnn", Policy = "acwa-prior", Epochs = 5 }, Console.Out);
/// run.Trainer.EpochCompleted += (_, e) => Console.WriteLine($"epoch {e.Epoch + 1}: val macro-F1 {e.Validation.MacroF1:F4}");
/// var result = run.Execute();
/// Console.WriteLine($"test macro-F1 {result.Test!.MacroF1:F4}, run folder {result.OutDir}");
/// </code>
/// </summary>
public sealed class TrainingRun : IDisposable
{
    private readonly StepRunner _runner;
    private readonly List<EpochRecord> _history = [];
    private bool _executed;

    private TrainingRun(TrainingRunOptions options, string outDir, RunData data, long[] trainCounts, StepRunner runner, Trainer trainer, IClassWeightPolicy policy)
    {
        Options = options;
        OutDir = outDir;
        _data = data;
        TrainCounts = trainCounts;
        _runner = runner;
        Trainer = trainer;
        Policy = policy;
    }

    private readonly RunData _data;

    /// <summary>The options the run was prepared with.</summary>
    public TrainingRunOptions Options { get; }

    /// <summary>The run folder (absolute).</summary>
    public string OutDir { get; }

    /// <summary>The trainer: subscribe to its <see cref="Trainer.StepCompleted"/> / <see cref="Trainer.EpochCompleted"/> events before <see cref="Execute"/>.</summary>
    public Trainer Trainer { get; }

    /// <summary>The class-weight policy.</summary>
    public IClassWeightPolicy Policy { get; }

    /// <summary>A one-line description of the data (source, sample shape, classes).</summary>
    public string DataDescription => _data.Name;

    /// <summary>Whether the data are images (false: samples from .npy files fed as they are).</summary>
    public bool IsImages => _data.Normalization is not null;

    /// <summary>Class names, in label order.</summary>
    public IReadOnlyList<string> ClassNames => _data.Train.ClassNames;

    /// <summary>Training samples per class after the imbalance protocol and the validation split.</summary>
    public long[] TrainCounts { get; }

    /// <summary>Sizes of the training, validation and test splits.</summary>
    public (int Train, int Validation, int Test) SplitSizes => (_data.Train.Count, _data.Validation.Count, _data.Test.Count);

    /// <summary>The epochs done so far (those restored by a resume first), updated as epochs finish.</summary>
    public IReadOnlyList<EpochRecord> History => _history;

    /// <summary>
    /// Checks the options, loads and splits the data, compiles the model's training artifacts into OutDir/artifacts
    /// (reused on resume), writes config.json, opens the step runner and creates the trainer; with
    /// <see cref="TrainingRunOptions.Resume"/> and a checkpoint in the run folder, restores it. Lines saying what was
    /// loaded go to <paramref name="log"/>.
    /// </summary>
    /// <exception cref="InvalidOptionException">An option cannot be used; the message names the option.</exception>
    /// <exception cref="ArgumentException">The run folder holds another run, the model does not fit the data, or a resume
    /// changes what the run computes.</exception>
    /// <exception cref="InvalidDataException">Data or model files are malformed.</exception>
    /// <exception cref="IOException">Files cannot be read or written.</exception>
    /// <exception cref="DeviceUnavailableException">The device cannot be used.</exception>
    public static TrainingRun Prepare(TrainingRunOptions options, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        // Distributed: rank 0 speaks and writes; the other ranks read the same data and files and stay silent.
        log = options.Communicator is { Rank: not 0 } ? TextWriter.Null : log ?? TextWriter.Null;
        var o = options;
        var outDir = Path.GetFullPath(o.ResolveOutDir());
        var checkpoint = Path.Combine(outDir, "checkpoint.acwa");
        if (!o.Resume && File.Exists(checkpoint))
            throw new InvalidOptionException(nameof(TrainingRunOptions.OutDir), $"'{outDir}' already holds a run (checkpoint.acwa); set Resume to continue it, or choose another OutDir");
        if (File.Exists(outDir)) throw new InvalidOptionException(nameof(TrainingRunOptions.OutDir), $"'{outDir}' is a file, not a folder");
        if (o.Resume && File.Exists(checkpoint))
        {
            o = WithSavedImbalance(checkpoint, o);
            EnsureSameConfig(checkpoint, o);
        }
        else if (o.Resume) log.WriteLine($"resume: no checkpoint in {outDir}, starting a fresh run");
        if (o.Device.IsCuda) ProbeDevice(o); // before any data is read or anything written

        // What this invocation creates (the run folder and any missing parent) goes again if it fails before training.
        var created = IsWriter(o) ? FirstMissing(outDir) : null;
        try
        {
            return PrepareIn(o, outDir, checkpoint, log, created);
        }
        catch
        {
            RemoveCreated(created);
            throw;
        }
    }

    private static TrainingRun PrepareIn(TrainingRunOptions o, string outDir, string checkpoint, TextWriter log, string? created)
    {
        var modelFile = ModelCatalog.LoadFile(o.Model); // read once: image size, input check and the artifacts use it
        var data = RunData.Load(o, modelFile, log);
        var counts = data.Train.ClassCounts().Select(c => (long)c).ToArray();
        var imbalance = o.ResolveImbalance();
        var protocol = ImbalanceProtocol.Parse(imbalance);
        string why = o.ImbalanceIsDefault
            ? $" (the default for {TrainingRunOptions.DatasetName(o.Dataset)}: {(protocol.Kind == ImbalanceKind.None ? "the data as they are" : "the paper's protocol")})"
            : "";
        log.WriteLine($"data: {data.Name} | imbalance {imbalance}{why} | train {data.Train.Count}, validation {data.Validation.Count}, test {data.Test.Count} | train counts [{string.Join(", ", counts)}]");
        log.WriteLine($"model {o.Model} sees {data.Input}");

        var artifacts = Path.Combine(outDir, "artifacts");
        if (IsWriter(o))
        {
            Directory.CreateDirectory(outDir);
            var manifest = Path.Combine(artifacts, "manifest.json");
            // A distributed run needs the split step; artifacts of a one-process run being resumed distributed are recompiled.
            if (!(o.Resume && File.Exists(manifest) && (o.Communicator is null || ArtifactManifest.Load(manifest).SplitStep is not null)))
            {
                var forward = modelFile ?? data.BuiltIn!(data.Train.ClassCount);
                var set = ModelCatalog.Compile(forward, ArtifactOptionsFor(o, counts, data.Train.ClassNames), modelFile is null ? null : o.Model);
                TrainingArtifacts.Write(set, artifacts);
            }
            RunFolder.WriteConfig(outDir, o);
        }
        // The other ranks open the artifacts rank 0 has just written (a failure on rank 0 aborts them: see Communicator).
        o.Communicator?.AllReduceSum(stackalloc long[1]);

        var runner = new StepRunner(artifacts, new StepRunnerOptions
        {
            Device = o.Device, IntraOpThreads = o.Threads > 0 ? o.Threads : null, CudaGraph = o.CudaGraph,
            DropoutSeed = o.Communicator is { } comm ? RankDropoutSeed(o.Seed, comm.Rank) : o.Seed,
        });
        try
        {
            var policy = PolicyFactory.Create(o.Policy, counts, o.Epochs);
            var trainer = data.NewTrainer(runner, policy, new TrainerOptions
            {
                Epochs = o.Epochs, BatchSize = o.Batch, Seed = o.Seed, Normalization = data.Normalization, Augmentation = data.Augmentation,
                Schedule = LearningRateSchedules.Parse(o.Schedule, o.LearningRate), CheckpointPath = checkpoint,
                CheckpointEverySteps = o.CheckpointEverySteps, DivergenceFactor = o.DivergenceFactor,
                EvaluateTestEachEpoch = o.TestEachEpoch, Config = o.ToJson(), Communicator = o.Communicator, Feedback = o.Feedback,
            });
            var run = new TrainingRun(o, outDir, data, counts, runner, trainer, policy)
            {
                MinorityClasses = Data.MinorityClasses.For(protocol, counts),
                MinorityRule = Data.MinorityClasses.Rule(protocol),
                _created = created,
            };
            if (o.Resume && File.Exists(checkpoint))
            {
                foreach (var h in trainer.Resume(checkpoint)) run._history.Add(EpochRecord.FromJson((JsonObject)h!));
                log.WriteLine(trainer.ResumePosition is { } at
                    ? $"resumed from {checkpoint} in epoch {at.Epoch + 1}/{o.Epochs} at batch {at.NextBatch + 1}/{trainer.BatchesPerEpoch} (global step {trainer.GlobalStep})"
                    : $"resumed from {checkpoint} after epoch {trainer.CompletedEpochs}/{o.Epochs}");
            }
            trainer.EpochCompleted += (_, r) =>
            {
                run._history.Add(EpochRecord.From(r));
                if (IsWriter(o)) RunFolder.WriteEpochFiles(outDir, run._history, run.ClassNames);
            };
            log.WriteLine($"model {o.Model} | loss {TrainingNames.LossSpec(o.Loss, o.LossSettings)} | policy {policy.Spec}{(o.Feedback == FeedbackSource.Training ? " fed from training predictions" : "")} | {TrainingNames.Name(o.Optimizer)} lr {o.LearningRate} ({o.Schedule}) | batch {o.Batch} | {o.Epochs} epochs | device {o.Device} | run folder {outDir}");
            return run;
        }
        catch
        {
            runner.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads ONNX Runtime's provider for a CUDA device (what a session on it needs first), so that missing CUDA libraries
    /// or a missing provider are reported before the data are read and the model compiled.
    /// </summary>
    private static void ProbeDevice(TrainingRunOptions o)
    {
        using var _ = SessionOptionsFactory.Create(o.Device, o.Threads > 0 ? o.Threads : null, cudaGraph: o.CudaGraph);
    }

    /// <summary>
    /// With <see cref="TrainingRunOptions.Imbalance"/> not given, a resumed run keeps the protocol its checkpoint was
    /// written with (a run from before the per-dataset defaults, e.g. an npy run on <c>step</c>, stays on it).
    /// </summary>
    private static TrainingRunOptions WithSavedImbalance(string checkpoint, TrainingRunOptions o)
    {
        if (!o.ImbalanceIsDefault) return o;
        var saved = (TensorFile.LoadMeta(checkpoint)["extra"] as JsonObject)?["trainer"]?["config"]?["imbalance"];
        return saved is JsonValue v && v.TryGetValue<string>(out var spec) ? o with { Imbalance = spec } : o;
    }

    /// <summary>Whether this process writes the run folder: always in one process, rank 0 alone in a distributed run.</summary>
    private static bool IsWriter(TrainingRunOptions o) => o.Communicator is null or { Rank: 0 };

    /// <summary>
    /// The Dropout seed of a rank: the run's seed on rank 0 (so a one-rank run draws the masks of a one-process run), a
    /// seed derived from (seed, rank) on the others, so every rank draws its own masks, deterministically.
    /// </summary>
    internal static ulong RankDropoutSeed(ulong seed, int rank) =>
        rank == 0 ? seed : Data.Xoshiro256StarStar.Derive(seed, 0xD15712B, (ulong)rank).NextUInt64();

    /// <summary>The outermost folder of <paramref name="dir"/> (itself or an ancestor) that does not exist yet; null when it exists.</summary>
    private static string? FirstMissing(string dir)
    {
        string? missing = null;
        for (var d = dir; d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d)) missing = d;
        return missing;
    }

    /// <summary>Removes a folder this invocation created (<see cref="FirstMissing"/> before it started), if any; never fails.</summary>
    private static void RemoveCreated(string? created)
    {
        if (created is null || !Directory.Exists(created)) return;
        try { Directory.Delete(created, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // the original failure is what matters
    }

    /// <summary>The folder this invocation created (the run folder or an ancestor), removed if training fails before its first epoch.</summary>
    private string? _created;

    /// <summary>
    /// The classes reported as minority classes (<see cref="Data.MinorityClasses.For"/> of the imbalance applied and
    /// <see cref="TrainCounts"/>), ascending; empty when no class is a minority. test_report.json lists them with their mean F1.
    /// </summary>
    public IReadOnlyList<int> MinorityClasses { get; private init; } = [];

    /// <summary>How <see cref="MinorityClasses"/> were chosen, in words (<see cref="Data.MinorityClasses.Rule"/>).</summary>
    public string MinorityRule { get; private init; } = "";

    /// <summary>
    /// Trains the remaining epochs, then writes model.onnx (trained weights and the metadata <c>acwa eval</c> reads),
    /// test_report.json and confusion_matrix.csv. Can be called once.
    /// </summary>
    /// <exception cref="TrainingDivergedException">The divergence rule stopped the run; the last checkpoint (which passed the rule) stays.</exception>
    /// <exception cref="TrainingInterruptedException"><paramref name="cancellationToken"/> was cancelled; a checkpoint of that point was written.</exception>
    public TrainingRunResult Execute(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_executed) throw new InvalidOperationException("a training run executes once");
        _executed = true;
        var result = RunTrainer(cancellationToken);
        if (IsWriter(Options))
        {
            RunFolder.WriteModel(OutDir, _runner.InferenceModel(), ClassNames, _data.Normalization);
            if (result.Test is { } test && result.TestConfusion is { } cm) RunFolder.WriteTestReport(OutDir, test, cm, ClassNames, MinorityClasses, MinorityRule);
        }
        return new TrainingRunResult(OutDir, result.Test, result.TestConfusion, _history.ToList(), result.FinalWeights, result.Seconds);
    }

    /// <summary>
    /// <see cref="Trainer.Run"/>; when it fails before an epoch is done and left no checkpoint, the folder this invocation
    /// created goes again (nothing in it could be resumed).
    /// </summary>
    private TrainingResult RunTrainer(CancellationToken cancellationToken)
    {
        try
        {
            return Trainer.Run(cancellationToken);
        }
        catch (Exception) when (_history.Count == 0 && _created is not null && !File.Exists(Path.Combine(OutDir, "checkpoint.acwa")))
        {
            _runner.Dispose(); // its sessions hold the artifacts open
            RemoveCreated(_created);
            throw;
        }
    }

    private bool _disposed;

    /// <summary>Releases the ONNX Runtime sessions.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _runner.Dispose();
    }

    /// <summary>
    /// Refuses to resume <paramref name="checkpoint"/> with other settings than the run that wrote it (its
    /// <c>extra.trainer.config</c>): the artifacts are reused on resume, so a changed loss, optimizer, model, trainable
    /// set, ... would otherwise be written into config.json while the old ones keep training.
    /// </summary>
    private static void EnsureSameConfig(string checkpoint, TrainingRunOptions o)
    {
        var meta = TensorFile.LoadMeta(checkpoint);
        if ((meta["extra"] as JsonObject)?["trainer"]?["config"] is not JsonObject saved) return; // Trainer.Resume names what is missing
        foreach (var (key, now) in o.ToJson())
        {
            if (TrainingRunOptions.ResumableKeys.Contains(key) || !saved.ContainsKey(key)) continue;
            var was = saved[key];
            string Text(JsonNode? v) => v?.ToJsonString() ?? "null";
            if (Text(was) != Text(now))
                throw new ArgumentException($"'{checkpoint}' was written with {key} = {Text(was)}, this run has {Text(now)}; " +
                    "resume with the run's settings (see config.json) or choose another run folder");
        }
    }

    /// <summary>The compiler options of a run: its loss (LDAM margins and log priors from the training counts), optimizer and trainable set.</summary>
    internal static ArtifactOptions ArtifactOptionsFor(TrainingRunOptions o, long[] counts, IReadOnlyList<string> names) => new()
    {
        Loss = o.Loss,
        Optimizer = o.Optimizer,
        LearningRate = (float)o.LearningRate,
        Momentum = o.Optimizer == OptimizerKind.Sgd ? (float)o.Momentum : 0f,
        WeightDecay = (float)o.WeightDecay,
        LdamMargins = o.Loss == LossKind.Ldam ? ClassPriors.LdamMargins(counts, o.LossSettings.LdamMaxMargin).Select(v => (float)v).ToArray() : null,
        LogPrior = o.Loss == LossKind.LogitAdjusted ? ClassPriors.LogPriors(counts).Select(v => (float)v).ToArray() : null,
        FocalGamma = (float)o.LossSettings.FocalGamma,
        LdamScale = (float)o.LossSettings.LdamScale,
        LogitAdjustTau = (float)o.LossSettings.LogitAdjustTau,
        NumClasses = counts.Length,
        ClassNames = names,
        Device = o.Device,
        Trainable = o.Trainable,
        Frozen = o.Frozen,
        FrozenBatchNorm = o.FrozenBatchNorm,
        SplitStep = o.Communicator is not null,
    };
}
