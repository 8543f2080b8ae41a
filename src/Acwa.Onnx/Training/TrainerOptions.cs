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
    /// Where to write the checkpoint after every epoch (atomically, overwriting the previous one); null = no checkpoints.
    /// </summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Evaluate the test split after every epoch (else only once at the end).</summary>
    public bool EvaluateTestEachEpoch { get; init; }

    /// <summary>Load training batches on a background task (same batches, overlapped with compute). Default true.</summary>
    public bool Prefetch { get; init; } = true;

    /// <summary>Free-form run configuration stored in every checkpoint under <c>config</c> (model, data, policy, ...).</summary>
    public JsonObject? Config { get; init; }

    /// <summary>Checks the values; the message names the bad field.</summary>
    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "epochs must be 1 or more");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "batch size must be 1 or more");
    }
}
