using Acwa.Onnx.Metrics;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Evaluation;

/// <summary>Settings of an <see cref="Evaluator"/>.</summary>
public sealed record EvaluatorOptions
{
    /// <summary>Execution device (default CPU). Ignored when <see cref="SessionOptions"/> is given.</summary>
    public Device Device { get; init; } = Device.Cpu;

    /// <summary>Images per forward pass (default 256; at least 1).</summary>
    public int BatchSize { get; init; } = 256;

    /// <summary>Intra-op threads of the CPU provider; null means one per logical core. Ignored with <see cref="SessionOptions"/>.</summary>
    public int? IntraOpThreads { get; init; }

    /// <summary>
    /// On CUDA, let ONNX Runtime place nodes on the CPU provider (models exported with shape arithmetic over the batch
    /// size, ops without a CUDA kernel). False (default): such a model fails to load with a message saying so. Ignored with
    /// <see cref="SessionOptions"/>.
    /// </summary>
    public bool AllowCpuFallback { get; init; }

    /// <summary>
    /// The caller's own session options (execution providers, threads, graph optimisation); the evaluator uses them as
    /// they are and does not dispose them. Null: options from <see cref="SessionOptionsFactory.Create"/> for
    /// <see cref="Device"/> and <see cref="IntraOpThreads"/>.
    /// </summary>
    public SessionOptions? SessionOptions { get; init; }

    /// <summary>Image input name; null: the model's <c>acwa.input</c> metadata, else its only fed input.</summary>
    public string? Input { get; init; }

    /// <summary>Logits output name; null: the model's <c>acwa.output</c> metadata, else its only (or first) output.</summary>
    public string? Output { get; init; }

    /// <summary>
    /// Add <c>ArgMax(logits, axis=1)</c> to the graph and bring back only int64 predictions (default true). False: bring the
    /// fp32 logits back and take the argmax with the SIMD host kernels, which also check for NaN (<see cref="NanPolicy"/>).
    /// </summary>
    public bool ArgMaxInGraph { get; init; } = true;

    /// <summary>
    /// Evaluate training-mode nodes as they are (default false). By default a model that still holds training-mode
    /// BatchNormalization or Dropout (e.g. torch.onnx.export with <c>TrainingMode.TRAINING</c>) is put into inference mode
    /// first (<see cref="Graphs.InferenceMode"/>: batch norm with its running statistics, dropout off), so that a sample's
    /// prediction does not depend on the batch it comes in; <see cref="Evaluator.ConvertedToInferenceMode"/> lists the nodes.
    /// </summary>
    public bool KeepTrainingMode { get; init; }

    /// <summary>How host-side argmax treats rows holding NaN (only when <see cref="ArgMaxInGraph"/> is false).</summary>
    public NanPolicy NanPolicy { get; init; } = NanPolicy.Throw;
}
