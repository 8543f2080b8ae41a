using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runs;

namespace Acwa.Cli.Training;

/// <summary>Everything <c>acwa reproduce</c> needs, free of the command-line parser.</summary>
internal sealed record ReproduceOptions
{
    public string Dataset { get; init; } = "fashion-mnist";
    public string Imbalance { get; init; } = "step";
    public string Model { get; init; } = "cnn";
    /// <summary>Seeds 0 .. Seeds-1.</summary>
    public int Seeds { get; init; } = 3;
    public int Epochs { get; init; } = 30;
    /// <summary>Comma-separated method names (<see cref="ReproduceMethod.Names"/>); null = all.</summary>
    public string? Methods { get; init; }
    /// <summary>Adaptive candidates given as NAME=LOSS/POLICY (<see cref="ReproduceMethod.ParseExtra"/>), run after the selected built-in methods.</summary>
    public IReadOnlyList<string> ExtraMethods { get; init; } = [];
    /// <summary>Baselines given as NAME=LOSS/POLICY (e.g. a tuned setting of a built-in baseline).</summary>
    public IReadOnlyList<string> ExtraBaselines { get; init; } = [];
    /// <summary>Which split the report's numbers come from: "test" (the final model on the test split) or "validation" (the
    /// final epoch's validation metrics, for screening and tuning without looking at the test split).</summary>
    public string Split { get; init; } = "test";
    /// <summary>The method the paired differences are taken against; null = the best baseline run (highest mean test macro-F1).</summary>
    public string? Reference { get; init; }
    public int Batch { get; init; } = 128;
    public double LearningRate { get; init; } = 1e-3;
    public double ValidationFraction { get; init; } = 0.1;
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; }
    public bool CudaGraph { get; init; }
    public string? OutDir { get; init; }
    /// <summary>Train nothing: report the methods whose runs for every seed have finished, and list the others with their progress.</summary>
    public bool ReportOnly { get; init; }
    /// <summary>Also checkpoint every this many steps, mid-epoch (<see cref="TrainingRunOptions.CheckpointEverySteps"/>); 0 = after every epoch.</summary>
    public int CheckpointEverySteps { get; init; }
    /// <summary><c>--shard I/N</c>: train only the runs of shard I of the sorted manifest (run r to shard r mod N); null = from the scheduler's environment, else all.</summary>
    public string? Shard { get; init; }
    /// <summary><c>--shards N</c>, with Kubernetes' JOB_COMPLETION_INDEX.</summary>
    public int? Shards { get; init; }
    /// <summary>Reads an environment variable (tests pass their own); null = the process environment.</summary>
    public Func<string, string?>? Environment { get; init; }
    /// <summary>Where Fashion-MNIST/ISIC caches and data live; null = defaults.</summary>
    public string? CacheDir { get; init; }

    /// <summary>The output folder: <see cref="OutDir"/> or runs/reproduce-DATASET-IMBALANCE-MODEL.</summary>
    public string ResolveOutDir()
    {
        if (OutDir is not null) return OutDir;
        return Path.Combine("runs", TrainingRunOptions.RunFolderName(
            $"reproduce-{TrainingRunOptions.DatasetName(Dataset)}-{Imbalance}-{TrainingRunOptions.ModelName(Model)}"));
    }

    /// <summary>The training options of one (method, seed) run in OUT/METHOD/seedN, always with resume semantics.</summary>
    public TrainingRunOptions RunOptions(ReproduceMethod method, int seed, string outDir) => new()
    {
        Dataset = Dataset, Imbalance = Imbalance, Model = Model, Loss = TrainingNames.ParseLossSpec(method.Loss).Loss, LossSettings = TrainingNames.ParseLossSpec(method.Loss).Settings, Policy = method.Policy,
        Optimizer = method.Optimizer is { } opt ? TrainingNames.ParseOptimizer(opt) : OptimizerKind.Adam,
        LearningRate = method.LearningRate ?? LearningRate, Schedule = "constant", Epochs = Epochs, Batch = Batch, ValidationFraction = ValidationFraction,
        Device = Acwa.Onnx.Training.Runtime.Device.Parse(Device), Threads = Threads, CudaGraph = CudaGraph, Seed = (ulong)seed, OutDir = Path.Combine(outDir, method.Name, $"seed{seed}"),
        Resume = true, CacheDir = CacheDir, CheckpointEverySteps = CheckpointEverySteps, Feedback = method.Feedback,
    };
}
