using System.Text.Json.Nodes;

namespace Acwa.Cli.Training;

/// <summary>Everything <c>acwa train</c> needs, free of the command-line parser (also used by <c>acwa reproduce</c>).</summary>
internal sealed record TrainRunOptions
{
    public string Dataset { get; init; } = "fashion-mnist";
    public string Imbalance { get; init; } = "step";
    public string Model { get; init; } = "mlp";
    public string Loss { get; init; } = "ce";
    public string Policy { get; init; } = "acwa";
    public string Optimizer { get; init; } = "adam";
    public double LearningRate { get; init; } = 1e-3;
    public string Schedule { get; init; } = "constant";
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; }
    public int Epochs { get; init; } = 15;
    public int Batch { get; init; } = 128;
    public double ValidationFraction { get; init; } = 0.1;
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; }
    /// <summary>On CUDA, run the training steps as captured CUDA graphs (<see cref="Acwa.Onnx.Training.Runtime.StepRunnerOptions.CudaGraph"/>).</summary>
    public bool CudaGraph { get; init; }
    public ulong Seed { get; init; }
    public string? OutDir { get; init; }
    public bool Resume { get; init; }
    public bool TestEachEpoch { get; init; }
    public bool Quiet { get; init; }
    /// <summary>Initializers to train (names or '*' patterns); null = all fp32 parameters but <see cref="Frozen"/>.</summary>
    public IReadOnlyList<string>? Trainable { get; init; }
    /// <summary>Initializers to keep frozen (names or '*' patterns), e.g. a pretrained backbone when fine-tuning.</summary>
    public IReadOnlyList<string>? Frozen { get; init; }
    /// <summary>Batch-norm layers with frozen scale and bias run in inference mode (<see cref="Acwa.Onnx.Training.Compiler.ArtifactOptions.FrozenBatchNorm"/>).</summary>
    public bool FrozenBatchNorm { get; init; }
    /// <summary>Side images of folder/ISIC-2018 datasets are resized to; null = the model file's declared input side, else 64.</summary>
    public int? ImageSize { get; init; }
    /// <summary>Where Fashion-MNIST/ISIC caches and data live; null = defaults.</summary>
    public string? CacheDir { get; init; }

    /// <summary>The run folder: <see cref="OutDir"/> or runs/DATASET-MODEL-LOSS-POLICY-seedN.</summary>
    public string ResolveOutDir()
    {
        if (OutDir is not null) return OutDir;
        return Path.Combine("runs", RunFolderName($"{DatasetName(Dataset)}-{Imbalance}-{ModelName(Model)}-{Loss}-{Policy}-seed{Seed}"));
    }

    /// <summary>The dataset spec without its paths (<c>cifar10:DIR</c> -> <c>cifar10</c>).</summary>
    internal static string DatasetName(string dataset) => dataset.Contains(':') ? dataset[..dataset.IndexOf(':')] : dataset;

    /// <summary>A built-in model name, or a model file's name without folder and extension.</summary>
    internal static string ModelName(string model) =>
        model.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) ? Path.GetFileNameWithoutExtension(model) : model;

    /// <summary>Replaces every character other than letters, digits, '.' and '-' by '_' (safe as a folder name).</summary>
    internal static string RunFolderName(string name) =>
        string.Concat(name.Select(ch => char.IsLetterOrDigit(ch) || ch is '.' or '-' ? ch : '_'));

    /// <summary>The configuration as JSON (written to config.json and into checkpoints).</summary>
    public JsonObject ToJson() => new()
    {
        ["dataset"] = Dataset, ["imbalance"] = Imbalance, ["model"] = Model, ["loss"] = Loss, ["policy"] = Policy,
        ["optimizer"] = Optimizer, ["lr"] = LearningRate, ["schedule"] = Schedule, ["momentum"] = Momentum, ["weight_decay"] = WeightDecay,
        ["epochs"] = Epochs, ["batch"] = Batch, ["val_fraction"] = ValidationFraction, ["device"] = Device, ["threads"] = Threads, ["cuda_graph"] = CudaGraph,
        ["seed"] = Seed,
        ["trainable"] = Trainable is null ? null : new JsonArray(Trainable.Select(t => (JsonNode?)t).ToArray()),
        ["frozen"] = Frozen is null ? null : new JsonArray(Frozen.Select(t => (JsonNode?)t).ToArray()),
        ["frozen_bn"] = FrozenBatchNorm,
        ["image_size"] = ImageSize,
    };
}
