namespace Acwa.Onnx.Training.Compiler;

/// <summary>
/// What the training-graph compiler compiles: loss, optimizer, hyper-parameters, clipping, accumulation, and which
/// initializers train. Hyper-parameters marked "input" become control inputs of the training graph (their value here is the
/// manifest default); the others are constants baked into the graph.
/// </summary>
public sealed record ArtifactOptions
{
    /// <summary>Loss appended to the logits.</summary>
    public LossKind Loss { get; init; } = LossKind.CrossEntropy;
    /// <summary>Optimizer.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;
    /// <summary>Learning rate default (input, role <c>lr</c>).</summary>
    public float LearningRate { get; init; } = 1e-3f;
    /// <summary>SGD momentum (constant; 0 disables the momentum buffer).</summary>
    public float Momentum { get; init; }
    /// <summary>SGD dampening (constant).</summary>
    public float Dampening { get; init; }
    /// <summary>SGD Nesterov momentum (requires momentum &gt; 0 and dampening 0, as in PyTorch).</summary>
    public bool Nesterov { get; init; }
    /// <summary>Weight decay (constant): L2 added to the gradient for SGD/Adam, decoupled for AdamW.</summary>
    public float WeightDecay { get; init; }
    /// <summary>Adam beta1 (constant).</summary>
    public float Beta1 { get; init; } = 0.9f;
    /// <summary>Adam beta2 (constant).</summary>
    public float Beta2 { get; init; } = 0.999f;
    /// <summary>Adam epsilon (constant).</summary>
    public float Epsilon { get; init; } = 1e-8f;
    /// <summary>Global gradient-norm clipping threshold default; null compiles no clipping. When set it is an input (role <c>clip_norm</c>).</summary>
    public float? ClipNorm { get; init; }
    /// <summary>Micro-batches per optimizer step; 1 compiles no accumulation. Greater than 1 adds an accumulator per parameter and the reset/apply flags.</summary>
    public int AccumulationSteps { get; init; } = 1;
    /// <summary>Focal gamma default (input).</summary>
    public float FocalGamma { get; init; } = 2f;
    /// <summary>LDAM scale s default (input).</summary>
    public float LdamScale { get; init; } = 30f;
    /// <summary>LDAM margins default [C] (input); null gives zeros (set them with <see cref="Losses.LossMath.LdamMargins"/>).</summary>
    public float[]? LdamMargins { get; init; }
    /// <summary>Logit-adjustment log prior default [C] (input); null gives zeros (no adjustment).</summary>
    public float[]? LogPrior { get; init; }
    /// <summary>Logit-adjustment tau default (input).</summary>
    public float LogitAdjustTau { get; init; } = 1f;
    /// <summary>Class weights default [C] (input); null gives ones.</summary>
    public float[]? ClassWeights { get; init; }
    /// <summary>Names of trainable initializers; null trains every fp32 initializer except batch-norm running statistics,
    /// <see cref="Frozen"/>, initializers used only as op settings (Dropout ratio, Clip bounds, Pad and Resize inputs 1-3),
    /// and initializers no node reads (naming one here is an error).
    /// Here and in <see cref="Frozen"/> an entry with '*' is a pattern ("fc.*", "*.bias") that must match at least one name.</summary>
    public IReadOnlyList<string>? Trainable { get; init; }
    /// <summary>Initializers to keep frozen (baked into the graphs as constants) when <see cref="Trainable"/> is null; giving both is an error.</summary>
    public IReadOnlyList<string>? Frozen { get; init; }
    /// <summary>
    /// BatchNormalization nodes whose scale and bias are both frozen stay in inference mode: they normalise with their
    /// running statistics, which stay constant (baked into the graphs, not in the checkpoint) instead of batch
    /// statistics updated every step. PyTorch: those BatchNorm modules in eval() while the rest trains (torchvision's
    /// FrozenBatchNorm2d), the usual setting for fine-tuning a frozen backbone; ORT can then fold them into the
    /// preceding convolution and run the frozen part on its inference kernels. Default false: every BatchNormalization
    /// trains on batch statistics, as PyTorch's model.train().
    /// </summary>
    public bool FrozenBatchNorm { get; init; }
    /// <summary>Number of classes; null reads it from the logits output's last dimension.</summary>
    public int? NumClasses { get; init; }
    /// <summary>Batch input shape without the batch dimension (e.g. [1, 28, 28]); null reads it from the model's input.</summary>
    public long[]? InputShape { get; init; }
    /// <summary>Logits output of the forward model; null takes its first graph output.</summary>
    public string? LogitsOutput { get; init; }
    /// <summary>Emit a per-batch C x C confusion-count output (int64, rows = true class) from the eval graph, which then takes labels.</summary>
    public bool EvalConfusion { get; init; } = true;
    /// <summary>Class names written into the inference model's metadata (<c>class_names</c>, a JSON array); optional.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }
    /// <summary>
    /// Update all trainable parameters as one flattened vector (one Concat of the gradients and one of the parameters, one
    /// optimizer update, one Split back) instead of one update per parameter tensor. Same arithmetic per element; the
    /// optimizer state is then one tensor per kind (<c>optimizer.adam_m</c>, <c>optimizer.adam_v</c>, <c>optimizer.momentum</c>,
    /// <c>optimizer.grad_acc</c>) instead of one per parameter (<c>P.adam_m</c>, ...). Cuts the step graph's node count by
    /// ~14 per parameter tensor (about 1,400 for ResNet-32).
    /// </summary>
    public bool FusedOptimizer { get; init; } = true;
    /// <summary>
    /// Reductions over the batch axis and others (batch-norm statistics and gradients, bias gradients) as two reductions,
    /// first per sample, then over the batch (BatchAxisReductionSplitting). Null: on, for every device. On CUDA it is faster
    /// (see docs/gpu.md, "What makes the GPU step fast"); on the CPU it costs nothing measurable and is more accurate: ORT's
    /// single float32 reduction over N x H x W values per channel loses precision in batch norm's statistics and gradients
    /// (see docs/autodiff.md, "torchvision audit").
    /// </summary>
    public bool? SplitBatchReductions { get; init; }
    /// <summary>
    /// Gradient decompositions to force (e.g. <see cref="Autodiff.ConvWeightGradMethod.Im2ColConvMatMul"/> on CUDA to compare
    /// whole steps); null, or methods left at Auto, take the measured default for <see cref="Device"/>. Its own Device is
    /// ignored (<see cref="Device"/> wins).
    /// </summary>
    public Autodiff.GradientOptions? Gradients { get; init; }
    /// <summary>
    /// Elements of the loss gradient (dLoss/dLogits) smaller in magnitude than this are set to 0 before the backward pass
    /// (0 disables). They cannot change any sum that also holds a normal-sized term, but their products become subnormal
    /// floats, which x86 CPUs process very slowly, LDAM's (scale 30) above all (see docs/training-graphs.md, "Tiny loss
    /// gradients").
    /// </summary>
    public float FlushGradientsBelow { get; init; } = 1e-30f;
    /// <summary>
    /// Also compile the training step split in two graphs (data-parallel training: an all-reduce goes between them): a
    /// gradients graph (forward in training form, loss, reverse pass; outputs one flat fp32 gradient of the weighted loss
    /// SUM over all trainable parameters, the normaliser Z, the loss, logits, predictions and the updated batch-norm
    /// buffers) and an update graph (parameters, optimizer state and a flat gradient in; clipping and the optimizer; new
    /// parameters and optimizer state out). The fused training graph is still written. Not with
    /// <see cref="AccumulationSteps"/> &gt; 1. See docs/training-graphs.md, "Split step".
    /// </summary>
    public bool SplitStep { get; init; }
    /// <summary>Device the graphs are compiled for: it chooses the gradient decompositions, and CUDA graphs must do no shape arithmetic on the host.</summary>
    public Runtime.Device Device { get; init; } = Runtime.Device.Cpu;

    /// <summary><see cref="Gradients"/> (or the defaults) for <see cref="Device"/>.</summary>
    internal Autodiff.GradientOptions ResolvedGradients => (Gradients ?? new Autodiff.GradientOptions()) with { Device = Device };

    /// <summary>Whether the graphs are compiled for CUDA.</summary>
    internal bool IsCuda => Device.IsCuda;
}
