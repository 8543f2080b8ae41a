namespace Acwa.Onnx.Training;

/// <summary>
/// The <see cref="ControlInput.Role"/> strings the compiler emits. Every control is fp32; flags are 1 (true) or 0 (false).
/// </summary>
public static class ControlRoles
{
    /// <summary>Learning rate (scalar).</summary>
    public const string LearningRate = "lr";
    /// <summary>Adam/AdamW bias correction 1 - beta1^t for optimizer step t (1-based), scalar.</summary>
    public const string AdamBias1 = "adam_bias1";
    /// <summary>Adam/AdamW bias correction 1 - beta2^t, scalar.</summary>
    public const string AdamBias2 = "adam_bias2";
    /// <summary>SGD with momentum: 1 on the first optimizer step (the buffer is set to the gradient), else 0.</summary>
    public const string FirstStep = "first_step";
    /// <summary>Per-class weights [C] (weighted CE, LDAM, logit adjustment; focal's alpha).</summary>
    public const string ClassWeights = "class_weights";
    /// <summary>Focal loss gamma (scalar).</summary>
    public const string FocalGamma = "focal_gamma";
    /// <summary>LDAM per-class margins [C].</summary>
    public const string LdamMargins = "ldam_margins";
    /// <summary>LDAM logit scale s (scalar).</summary>
    public const string LdamScale = "ldam_scale";
    /// <summary>Logit adjustment: log class prior [C].</summary>
    public const string LogPrior = "log_prior";
    /// <summary>Logit adjustment: temperature tau (scalar).</summary>
    public const string LogitAdjustTau = "la_tau";
    /// <summary>Global gradient-norm clipping threshold (scalar); present only when clipping was compiled in.</summary>
    public const string ClipNorm = "clip_norm";
    /// <summary>Gradient accumulation: 1 on the first micro-batch of a group (the accumulator restarts from this gradient).</summary>
    public const string AccumulateReset = "accumulate_reset";
    /// <summary>Gradient accumulation: 1 on the last micro-batch of a group (the optimizer applies acc / k); else parameters and optimizer moments pass through unchanged.</summary>
    public const string AccumulateApply = "accumulate_apply";
    /// <summary>Gradient accumulation: the number k of micro-batches a group averages over (scalar).</summary>
    public const string AccumulateSteps = "accumulate_steps";
    /// <summary>Split step, update graph only: the factor the flat gradient input is multiplied by before clipping and the
    /// optimizer (scalar; 1 / the global loss normaliser for a data-parallel step).</summary>
    public const string GradScale = "grad_scale";
}
