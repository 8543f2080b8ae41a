using System.Text.Json.Nodes;
using Acwa.Onnx.Data;

namespace Acwa.Onnx.Training;

/// <summary>Settings of a <see cref="Trainer"/> run.</summary>
public sealed record TrainerOptions
{
    /// <summary>Epochs to train (at least 1).</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Training and evaluation batch size (at least 1).</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Seed of the training order and augmentation (see <see cref="BatchLoader"/>).</summary>
    public ulong Seed { get; init; }

    /// <summary>Drop the last partial training batch of each epoch. Default false (it is trained on).</summary>
    public bool DropLast { get; init; }

    /// <summary>Per-channel normalisation of all splits; null = x/255.</summary>
    public Normalization? Normalization { get; init; }

    /// <summary>Training augmentation; null = none.</summary>
    public Augmentation? Augmentation { get; init; }

    /// <summary>Learning-rate schedule, asked every step; null = constant 1e-3.</summary>
    public ILearningRateSchedule? Schedule { get; init; }

    /// <summary>
    /// Where to write the checkpoint after every epoch, every <see cref="CheckpointEverySteps"/> steps and when the run is
    /// cancelled (atomically, overwriting the previous one); null = no checkpoints.
    /// </summary>
    public string? CheckpointPath { get; init; }

    /// <summary>
    /// Also write the checkpoint every this many training steps, mid-epoch (the loader's position, the epoch's running sums,
    /// RNG positions, policy and optimizer state), so a killed run loses at most this many steps; 0 = only after every
    /// epoch. Needs <see cref="CheckpointPath"/>.
    /// </summary>
    public int CheckpointEverySteps { get; init; }

    /// <summary>
    /// The divergence rule's factor <c>k</c>: the run stops with <see cref="TrainingDivergedException"/> when the mean loss
    /// of the last <see cref="DivergenceWindow"/> steps, or of the epoch so far, exceeds <c>k</c> times the reference loss
    /// <c>max(first step's loss, ln C)</c>. 0 = only NaN or infinite losses stop the run. Default 10.
    /// </summary>
    public double DivergenceFactor { get; init; } = 10;

    /// <summary>Steps in the divergence rule's moving mean (at most an epoch's batches are used). Default 20.</summary>
    public int DivergenceWindow { get; init; } = 20;

    /// <summary>Evaluate the test split after every epoch (else only once at the end).</summary>
    public bool EvaluateTestEachEpoch { get; init; }

    /// <summary>Load training batches on a background task (same batches, overlapped with compute). Default true.</summary>
    public bool Prefetch { get; init; } = true;

    /// <summary>
    /// Data parallelism (docs/distributed.md): this process is one rank of <see cref="Distributed.ICommunicator.Size"/>; each
    /// takes a disjoint slice of every global batch of <see cref="BatchSize"/> rows and of the validation and test splits,
    /// gradients and loss sums are all-reduced, rank 0 writes the checkpoints. Needs a runner with a split step. Null = one
    /// process (the fused training step).
    /// </summary>
    public Distributed.ICommunicator? Communicator { get; init; }

    /// <summary>
    /// Which split feeds the class-weight policy at the end of every epoch (<see cref="Weighting.EpochFeedback.Source"/>).
    /// <see cref="Weighting.FeedbackSource.Validation"/> (the default): the validation split's report.
    /// <see cref="Weighting.FeedbackSource.Training"/>: the confusion matrix of the epoch's training predictions, those of
    /// the training forward passes (with augmentation and Dropout, while the parameters move within the epoch); optimistic,
    /// since the model fits its training data. The validation split is evaluated and reported either way. Checkpoints record
    /// the source and a resume with another is refused; a mid-epoch checkpoint carries the epoch's partial training counts.
    /// Distributed, every rank's counts are all-reduced, so every rank feeds its policy the same report.
    /// </summary>
    public Weighting.FeedbackSource Feedback { get; init; } = Weighting.FeedbackSource.Validation;

    /// <summary>Free-form run configuration stored in every checkpoint under <c>config</c> (model, data, policy, ...).</summary>
    public JsonObject? Config { get; init; }

    /// <summary>Checks the values; the message names the bad field.</summary>
    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "epochs must be 1 or more");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "batch size must be 1 or more");
        if (CheckpointEverySteps < 0) throw new ArgumentOutOfRangeException(nameof(CheckpointEverySteps), CheckpointEverySteps, "must be 0 (epoch ends only) or more");
        if (CheckpointEverySteps > 0 && CheckpointPath is null) throw new ArgumentException("CheckpointEverySteps needs a CheckpointPath", nameof(CheckpointEverySteps));
        if (!(DivergenceFactor >= 0) || double.IsInfinity(DivergenceFactor)) throw new ArgumentOutOfRangeException(nameof(DivergenceFactor), DivergenceFactor, "must be 0 (off) or a finite factor above 1");
        if (DivergenceFactor is > 0 and <= 1) throw new ArgumentOutOfRangeException(nameof(DivergenceFactor), DivergenceFactor, "must be 0 (off) or above 1: a factor of 1 or less stops runs whose loss has not fallen yet");
        if (!Enum.IsDefined(Feedback)) throw new ArgumentOutOfRangeException(nameof(Feedback), Feedback, "must be Validation or Training");
        if (DivergenceWindow < 1) throw new ArgumentOutOfRangeException(nameof(DivergenceWindow), DivergenceWindow, "must be 1 or more");
    }
}
