using System.Text.Json.Nodes;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Training.Runs;

/// <summary>Everything a <see cref="TrainingRun"/> needs: data, model, loss, policy, optimizer, schedule, and where it goes.</summary>
public sealed record TrainingRunOptions
{
    /// <summary>The dataset spec (<see cref="Data.DatasetSpec.Parse"/>: fashion-mnist, cifar10:DIR, folder:DIR, idx:..., npy:...).</summary>
    public string Dataset { get; init; } = "fashion-mnist";
    /// <summary>
    /// Imbalance protocol applied to the training data (<see cref="Data.ImbalanceProtocol.Parse"/>: step, lt:100, none, ...);
    /// null = the dataset's default (<see cref="DefaultImbalance"/>: the paper's <c>step</c> for Fashion-MNIST and CIFAR-10,
    /// <c>none</c> for one's own data). <see cref="ResolveImbalance"/> gives the one applied.
    /// </summary>
    public string? Imbalance { get; init; }
    /// <summary>A built-in model name (<see cref="Models.ModelCatalog.BuiltinNames"/>) or the path of a forward ONNX model.</summary>
    public string Model { get; init; } = "mlp";
    /// <summary>The loss.</summary>
    public LossKind Loss { get; init; } = LossKind.CrossEntropy;
    /// <summary>The loss's hyper-parameters (focal gamma, LDAM scale and largest margin, logit-adjustment tau); the papers' by default.</summary>
    public LossSettings LossSettings { get; init; } = LossSettings.Default;
    /// <summary>The class-weight policy spec (<see cref="Weighting.PolicyFactory.Create"/>: acwa, acwa-prior, cb:beta=0.999, drw, ...).</summary>
    public string Policy { get; init; } = "acwa";
    /// <summary>
    /// Which split feeds the policy after every epoch (<see cref="TrainerOptions.Feedback"/>): the validation split (the
    /// default), or the epoch's training predictions (optimistic: the model fits its training data). The validation split is
    /// still evaluated and reported. A resumed run keeps the source it was started with.
    /// </summary>
    public Weighting.FeedbackSource Feedback { get; init; } = Weighting.FeedbackSource.Validation;
    /// <summary>The optimizer.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;
    /// <summary>Base learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Learning-rate schedule spec (<see cref="LearningRateSchedules.Parse"/>).</summary>
    public string Schedule { get; init; } = "constant";
    /// <summary>SGD momentum (ignored by Adam and AdamW).</summary>
    public double Momentum { get; init; } = 0.9;
    /// <summary>Weight decay.</summary>
    public double WeightDecay { get; init; }
    /// <summary>Epochs to train.</summary>
    public int Epochs { get; init; } = 15;
    /// <summary>Samples per training step.</summary>
    public int Batch { get; init; } = 128;
    /// <summary>Stratified share of the (imbalanced) training data held out for validation, in (0, 1).</summary>
    public double ValidationFraction { get; init; } = 0.1;
    /// <summary>Where the steps run.</summary>
    public Device Device { get; init; } = Device.Cpu;
    /// <summary>CPU intra-op threads; 0 = one per core.</summary>
    public int Threads { get; init; }
    /// <summary>On CUDA, run the training steps as captured CUDA graphs (<see cref="StepRunnerOptions.CudaGraph"/>).</summary>
    public bool CudaGraph { get; init; }
    /// <summary>Seed of the data split, the imbalance subsampling, the batch order, dropout and the built-in model's weights.</summary>
    public ulong Seed { get; init; }
    /// <summary>The run folder; null = <see cref="DefaultOutDir"/>.</summary>
    public string? OutDir { get; init; }
    /// <summary>Continue the run in <see cref="OutDir"/> from its checkpoint (with the same settings) instead of refusing an existing run.</summary>
    public bool Resume { get; init; }
    /// <summary>Also write the checkpoint every this many steps, mid-epoch (<see cref="TrainerOptions.CheckpointEverySteps"/>); 0 = after every epoch only.</summary>
    public int CheckpointEverySteps { get; init; }
    /// <summary>The divergence rule's factor (<see cref="TrainerOptions.DivergenceFactor"/>); 0 = stop only on NaN or infinite losses.</summary>
    public double DivergenceFactor { get; init; } = 10;
    /// <summary>Also evaluate the test split after every epoch (reported, never used for decisions).</summary>
    public bool TestEachEpoch { get; init; }
    /// <summary>Initializers to train (names or '*' patterns); null = all fp32 parameters but <see cref="Frozen"/>.</summary>
    public IReadOnlyList<string>? Trainable { get; init; }
    /// <summary>Initializers to keep frozen (names or '*' patterns), e.g. a pretrained backbone when fine-tuning.</summary>
    public IReadOnlyList<string>? Frozen { get; init; }
    /// <summary>Batch-norm layers with frozen scale and bias run in inference mode (<see cref="ArtifactOptions.FrozenBatchNorm"/>).</summary>
    public bool FrozenBatchNorm { get; init; }
    /// <summary>Side images of folder/ISIC-2018 datasets are resized to; null = the model file's declared input side, else 64.</summary>
    public int? ImageSize { get; init; }
    /// <summary>Where decoded-image caches live; null = next to the data.</summary>
    public string? CacheDir { get; init; }
    /// <summary>
    /// Data parallelism (docs/distributed.md): this process is one rank of the communicator's world (e.g.
    /// <see cref="Distributed.MpiCommunicator.Initialize"/> under <c>mpirun</c>). Each rank trains on its slice of every global
    /// batch of <see cref="Batch"/> rows and evaluates its shard of the validation and test splits; rank 0 alone writes the
    /// run folder. The caller owns it (finalizes MPI) and should <see cref="Distributed.ICommunicator.Abort"/> on a failure
    /// that may be this rank's alone. CPU only. Not part of <see cref="ToJson"/>: a checkpoint records its number of ranks,
    /// and a resume with another number is refused. Null = one process.
    /// </summary>
    public Distributed.ICommunicator? Communicator { get; init; }

    /// <summary>The run folder: <see cref="OutDir"/>, else <see cref="DefaultOutDir"/>.</summary>
    public string ResolveOutDir() => OutDir ?? DefaultOutDir();

    /// <summary>
    /// <c>runs/DATASET-IMBALANCE-MODEL-LOSS-POLICY-DEVICE-seedN</c>, IMBALANCE the one applied (<see cref="ResolveImbalance"/>),
    /// e.g. <c>runs/fashion-mnist-step-mlp-ce-acwa-cpu-seed0</c> (characters other than letters, digits, '.' and '-' become
    /// '_': <c>cuda_0</c>).
    /// </summary>
    public string DefaultOutDir() =>
        Path.Combine("runs", RunFolderName($"{DatasetName(Dataset)}-{ResolveImbalance()}-{ModelName(Model)}-{TrainingNames.LossSpec(Loss, LossSettings)}-{Policy}-{Device}-seed{Seed}"));

    /// <summary>The imbalance protocol the run applies: <see cref="Imbalance"/>, else <see cref="DefaultImbalance"/> of <see cref="Dataset"/>.</summary>
    public string ResolveImbalance() => Imbalance ?? DefaultImbalance(Dataset);

    /// <summary>
    /// The imbalance protocol a dataset gets when none is given: <c>step</c> (the paper's protocol, classes 5-9 keep 10 %)
    /// for the datasets the paper used, Fashion-MNIST and CIFAR-10 (both balanced as published); <c>none</c> for every other
    /// dataset (image folders, ISIC-2018, IDX and .npy files), which is taken as it is.
    /// </summary>
    public static string DefaultImbalance(string dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        try { return Data.DatasetSpec.Parse(dataset).Kind is Data.DatasetKind.FashionMnist or Data.DatasetKind.Cifar10 ? "step" : "none"; }
        catch (FormatException) { return "none"; } // Validate names the malformed dataset
    }

    /// <summary>Whether the dataset's own default protocol (<see cref="DefaultImbalance"/>) applies, i.e. <see cref="Imbalance"/> is not given.</summary>
    public bool ImbalanceIsDefault => Imbalance is null;

    /// <summary>The dataset spec without its paths (<c>cifar10:DIR</c> -> <c>cifar10</c>).</summary>
    public static string DatasetName(string dataset) => dataset.Contains(':') ? dataset[..dataset.IndexOf(':')] : dataset;

    /// <summary>A built-in model name, or a model file's name without folder and extension.</summary>
    public static string ModelName(string model) =>
        model.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) ? Path.GetFileNameWithoutExtension(model) : model;

    /// <summary>Replaces every character other than letters, digits, '.' and '-' by '_' (safe as a folder name).</summary>
    public static string RunFolderName(string name) =>
        string.Concat(name.Select(ch => char.IsLetterOrDigit(ch) || ch is '.' or '-' ? ch : '_'));

    /// <summary>
    /// The configuration as JSON (config.json and the checkpoint's copy); its keys are the command line's option names with
    /// '_' for '-', and <c>imbalance</c> is the protocol applied (<see cref="ResolveImbalance"/>). A resumed run must match it
    /// except for <see cref="ResumableKeys"/>.
    /// </summary>
    public JsonObject ToJson() => new()
    {
        ["dataset"] = Dataset, ["imbalance"] = ResolveImbalance(), ["model"] = Model, ["loss"] = TrainingNames.LossSpec(Loss, LossSettings), ["policy"] = Policy,
        ["feedback"] = FeedbackName(Feedback),
        ["optimizer"] = TrainingNames.Name(Optimizer), ["lr"] = LearningRate, ["schedule"] = Schedule, ["momentum"] = Momentum, ["weight_decay"] = WeightDecay,
        ["epochs"] = Epochs, ["batch"] = Batch, ["val_fraction"] = ValidationFraction, ["device"] = Device.ToString(), ["threads"] = Threads, ["cuda_graph"] = CudaGraph,
        ["seed"] = Seed,
        ["trainable"] = Trainable is null ? null : new JsonArray(Trainable.Select(t => (JsonNode?)t).ToArray()),
        ["frozen"] = Frozen is null ? null : new JsonArray(Frozen.Select(t => (JsonNode?)t).ToArray()),
        ["frozen_bn"] = FrozenBatchNorm,
        ["image_size"] = ImageSize,
        ["checkpoint_every"] = CheckpointEverySteps,
        ["divergence_factor"] = DivergenceFactor,
    };

    /// <summary>The name of a feedback source in <see cref="ToJson"/> and on the command line: <c>validation</c> or <c>training</c>.</summary>
    public static string FeedbackName(Weighting.FeedbackSource source) => source switch
    {
        Weighting.FeedbackSource.Validation => "validation",
        Weighting.FeedbackSource.Training => "training",
        _ => throw new ArgumentOutOfRangeException(nameof(source), source, "not a defined FeedbackSource"),
    };

    /// <summary>The feedback source named <paramref name="name"/> (<c>validation</c> or <c>training</c>, case-insensitive).</summary>
    /// <exception cref="FormatException">Another name; the message names it and the valid ones.</exception>
    public static Weighting.FeedbackSource ParseFeedback(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Trim().ToLowerInvariant() switch
        {
            "validation" => Weighting.FeedbackSource.Validation,
            "training" => Weighting.FeedbackSource.Training,
            _ => throw new FormatException($"unknown feedback source '{name}'; valid: validation, training"),
        };
    }

    /// <summary>Keys of <see cref="ToJson"/> a resumed run may change: where and how fast it runs, not what it computes.</summary>
    public static IReadOnlySet<string> ResumableKeys { get; } = new HashSet<string>(StringComparer.Ordinal) { "device", "threads", "cuda_graph", "checkpoint_every", "divergence_factor" };

    /// <summary>
    /// The options' own checks (no file is read): each failure names its property, and its reason names other properties
    /// by their names, so that a front end can replace them by its own (e.g. command-line flags).
    /// </summary>
    /// <exception cref="InvalidOptionException">The first value that cannot be used.</exception>
    public void Validate()
    {
        try { Data.DatasetSpec.Parse(Dataset); }
        catch (FormatException e) { throw new InvalidOptionException(nameof(Dataset), e.Message, e); }
        if (Epochs < 1) throw new InvalidOptionException(nameof(Epochs), $"must be 1 or more, got {Epochs}");
        if (Batch < 1) throw new InvalidOptionException(nameof(Batch), $"must be 1 or more, got {Batch}");
        if (ValidationFraction <= 0 || ValidationFraction >= 1) throw new InvalidOptionException(nameof(ValidationFraction), $"must be in (0, 1), got {ValidationFraction}");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new InvalidOptionException(nameof(LearningRate), $"must be a positive number, got {LearningRate}");
        if (!Enum.IsDefined(Feedback)) throw new InvalidOptionException(nameof(Feedback), $"must be Validation or Training, got {(int)Feedback}");
        if (Threads < 0) throw new InvalidOptionException(nameof(Threads), $"must be 0 (one per core) or more, got {Threads}");
        if (CudaGraph && !Device.IsCuda) throw new InvalidOptionException(nameof(CudaGraph), $"needs Device cuda or cuda:N, not '{Device}'");
        if (Communicator is not null && Device.IsCuda)
            throw new InvalidOptionException(nameof(Communicator), $"distributed training runs on the CPU (MPI all-reduce); Device '{Device}' would need NCCL, which is designed in docs/distributed.md but not built");
        if (Trainable is not null && Frozen is not null) throw new InvalidOptionException(nameof(Trainable), "give either Trainable or Frozen initializers, not both");
        if (CheckpointEverySteps < 0) throw new InvalidOptionException(nameof(CheckpointEverySteps), $"must be 0 (after every epoch only) or more, got {CheckpointEverySteps}");
        if (!(DivergenceFactor == 0 || DivergenceFactor > 1) || double.IsInfinity(DivergenceFactor))
            throw new InvalidOptionException(nameof(DivergenceFactor), $"must be 0 (off) or a finite factor above 1, got {DivergenceFactor}");
        if (ImageSize is < 1) throw new InvalidOptionException(nameof(ImageSize), $"must be positive, got {ImageSize}");
        try { Data.ImbalanceProtocol.Parse(ResolveImbalance()); }
        catch (FormatException e) { throw new InvalidOptionException(nameof(Imbalance), e.Message, e); }
        Weighting.IClassWeightPolicy policy;
        try { policy = Weighting.PolicyFactory.Create(Policy, [1, 1], Epochs); }
        catch (FormatException e) { throw new InvalidOptionException(nameof(Policy), e.Message, e); }
        if (policy is Weighting.ILogitOffsetPolicy && Loss != LossKind.LogitAdjusted)
            throw new InvalidOptionException(nameof(Policy), $"'{policy.Spec}' moves the offsets of the logit-adjusted loss: it needs Loss la, not '{TrainingNames.LossSpec(Loss, LossSettings)}'");
        try { LearningRateSchedules.Parse(Schedule, LearningRate); }
        catch (Exception e) when (e is FormatException or ArgumentException) { throw new InvalidOptionException(nameof(Schedule), e.Message, e); }
    }
}
