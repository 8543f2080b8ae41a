using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Training.Runtime;

/// <summary>How a <see cref="StepRunner"/> opens its sessions and where it keeps the training state.</summary>
public sealed record StepRunnerOptions
{
    /// <summary>Where the state lives and the graphs run. Default: <see cref="Device.Cpu"/>.</summary>
    public Device Device { get; init; } = Device.Cpu;

    /// <summary>CPU intra-op threads; null = one per logical core on the CPU, 1 on CUDA (see <see cref="SessionOptionsFactory.Create"/>).
    /// Ignored when <see cref="SessionOptions"/> is given.</summary>
    public int? IntraOpThreads { get; init; }

    /// <summary>
    /// On CUDA, allow ONNX Runtime to run some nodes on the CPU provider (see <see cref="SessionOptionsFactory.Create"/>).
    /// Default false: a graph that does not run entirely on the GPU fails to open. Ignored when <see cref="SessionOptions"/> is given.
    /// </summary>
    public bool AllowCpuFallback { get; init; }

    /// <summary>
    /// On CUDA, allow TF32 tensor-core arithmetic for fp32 convolutions and matrix products (ONNX Runtime's default; see
    /// <see cref="SessionOptionsFactory.Create"/>). False gives full fp32, for parity checks. Ignored when <see cref="SessionOptions"/> is given.
    /// </summary>
    public bool CudaTf32 { get; init; } = true;

    /// <summary>
    /// The caller's own session options (execution provider, threads, logging, optimisation level), used as they are for
    /// every session the runner opens, and not disposed by it. <see cref="Device"/> must name the device their execution
    /// provider runs on (state buffers are allocated there). Null: built by <see cref="SessionOptionsFactory"/>.
    /// </summary>
    public SessionOptions? SessionOptions { get; init; }

    /// <summary>Start from this checkpoint (written by <see cref="StepRunner.SaveCheckpoint"/>) instead of the artifact's initial state.</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Adam's beta1, used to feed the <c>adam_bias1</c> control (1 - beta1^t) when the manifest's
    /// <c>hyperparameters</c> has no <c>beta1</c>. Default 0.9.</summary>
    public double AdamBeta1 { get; init; } = 0.9;

    /// <summary>Adam's beta2, used to feed the <c>adam_bias2</c> control (1 - beta2^t) when the manifest's
    /// <c>hyperparameters</c> has no <c>beta2</c>. Default 0.999.</summary>
    public double AdamBeta2 { get; init; } = 0.999;

    /// <summary>Seed of the Dropout keep masks: the masks of run r are a pure function of (seed, r, mask index), so a
    /// resumed run draws the same masks as an uninterrupted one. Default 0.</summary>
    public ulong DropoutSeed { get; init; }

    /// <summary>
    /// On CUDA, run each training step as a captured CUDA graph (ONNX Runtime's <c>enable_cuda_graph</c>): the step's
    /// hundreds to thousands of kernel launches are replayed as one graph launch. The two ping-pong directions are two
    /// graphs of one session (run option <c>gpu_graph_id</c> 1 and 2); the batch, labels, controls and dropout masks are
    /// copied into fixed device tensors before each step and the loss and predictions read back after it (one copy run
    /// each way, <see cref="FixedFeeds"/>). Graphs are captured for the batch size of the first step; a step with another
    /// batch size (a smaller last batch) runs uncaptured (<c>gpu_graph_id</c> -1). Needs a CUDA <see cref="Device"/> and
    /// runner-built session options (<see cref="SessionOptions"/> null). Default false.
    /// </summary>
    public bool CudaGraph { get; init; }

    /// <summary>
    /// The fixed-tensor step of <see cref="CudaGraph"/> without graph capture, on any device: lets the CPU tests check that
    /// this path computes exactly what the plain one does.
    /// </summary>
    internal bool FixedFeeds { get; init; }

    /// <summary>Check every label against [0, C) before a step (cheap; a bad label otherwise gives a silently wrong loss). Default true.</summary>
    public bool ValidateLabels { get; init; } = true;
}
