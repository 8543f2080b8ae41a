namespace Acwa.Onnx.Autodiff;

/// <summary>Choices for <see cref="ReverseMode.Differentiate"/>: which decompositions the gradient rules emit.</summary>
public sealed record GradientOptions
{
    /// <summary>Decomposition of the convolution weight gradient; <see cref="ConvWeightGradMethod.Auto"/> picks per device.</summary>
    public ConvWeightGradMethod ConvWeightGrad { get; init; } = ConvWeightGradMethod.Auto;

    /// <summary>Decomposition of the convolution input gradient; <see cref="ConvInputGradMethod.Auto"/> picks per device.</summary>
    public ConvInputGradMethod ConvInputGrad { get; init; } = ConvInputGradMethod.Auto;

    /// <summary>Decomposition of the MaxPool input gradient; <see cref="MaxPoolGradMethod.Auto"/> picks per device.</summary>
    public MaxPoolGradMethod MaxPoolGrad { get; init; } = MaxPoolGradMethod.Auto;

    /// <summary>
    /// Depthwise convolutions of the forward graph with Ho Wo H W up to this bound are rewritten as dense per-channel
    /// MatMuls before differentiation (<see cref="DepthwiseLowering"/>); 0 rewrites none; null takes the device's default
    /// (CPU <see cref="DepthwiseLowering.DefaultMaxPairs"/>, CUDA 0: not measured there).
    /// </summary>
    public long? DenseDepthwiseMaxPairs { get; init; }

    /// <summary>
    /// LSTM, GRU and RNN nodes that the whole-node rules take keep ORT's fused kernel in the forward and are differentiated by
    /// a reverse-time Scan (O(1) nodes in the number of steps) instead of being unrolled by <see cref="RecurrentLowering"/>
    /// (docs/autodiff.md, "Rules": LSTM, GRU, RNN). Null takes the device's default: on the CPU (measured against the
    /// unrolled graph: see docs/training-speed.md, "Recurrent nets"), off on CUDA (not yet measured there).
    /// </summary>
    public bool? FusedRecurrent { get; init; }

    /// <summary>What <see cref="FusedRecurrent"/> resolves to for <see cref="Device"/>.</summary>
    public bool ResolvedFusedRecurrent => FusedRecurrent ?? !IsCuda;

    /// <summary>The bound <see cref="DenseDepthwiseMaxPairs"/> resolves to for <see cref="Device"/>.</summary>
    public long ResolvedDenseDepthwiseMaxPairs =>
        DenseDepthwiseMaxPairs ?? (IsCuda ? 0 : DepthwiseLowering.DefaultMaxPairs);

    /// <summary>Whether <see cref="Device"/> is a CUDA device.</summary>
    internal bool IsCuda => Device.IsCuda;

    /// <summary>The device the graph will run on (decompositions may differ per device).</summary>
    public Training.Runtime.Device Device { get; init; } = Training.Runtime.Device.Cpu;
}
