namespace Acwa.Onnx.Autodiff;

/// <summary>How the gradient of a convolution with respect to its weights is written out in standard ONNX ops.</summary>
public enum ConvWeightGradMethod
{
    /// <summary>The fastest measured method for <see cref="GradientOptions.Device"/> (see docs/autodiff.md).</summary>
    Auto,

    /// <summary>
    /// Pad X once, slice one strided tap per kernel position, stack them to [N, Cin k k, Ho Wo], and contract with
    /// dY per sample by a batched MatMul followed by ReduceSum over the batch.
    /// </summary>
    SlicedPatchesMatMul,

    /// <summary>
    /// Transpose X and dY to channel-major ([C, N, H, W]) once, slice the taps from the transposed X, and contract
    /// over batch and positions in one (per group batched) matrix product: no ReduceSum over the batch.
    /// </summary>
    TapsGemm,

    /// <summary>
    /// Like <see cref="TapsGemm"/> but one GEMM per kernel tap ([Cout, N Ho Wo] x [Cin, N Ho Wo]^T), results concatenated:
    /// the stacked-taps tensor is never materialised. Groups above 1 use <see cref="TapsGemm"/>.
    /// </summary>
    PerTapGemm,

    /// <summary>
    /// im2col by one depthwise Conv: X convolved (the forward's strides, pads and dilations, group Cin) with a constant
    /// one-hot kernel [Cin k k, 1, kh, kw] gives every tap at once as [N, Cin k k, Ho, Wo] (channel-major, then tap), which
    /// is contracted with dY per sample by a batched MatMul and summed over the batch as in <see cref="SlicedPatchesMatMul"/>.
    /// Exact: each output is one input element times 1 plus zeros.
    /// </summary>
    Im2ColConvMatMul,

    /// <summary>
    /// Depthwise convolutions (one input and one output channel per group): per channel, dY at every output position
    /// times X at every input position, summed over the batch by one batched MatMul ([C, Ho Wo, N] x [C, N, H W]), then
    /// a constant 0/1 matrix adds up the position pairs each kernel tap connects. Its work grows with (H W)^2, so it suits
    /// small feature maps, where ORT's grouped Conv and batched MatMul spend their time on per-group call overhead.
    /// Other convolutions use <see cref="Im2ColConvMatMul"/>.
    /// </summary>
    DepthwiseDense,

    /// <summary>A Conv over N/C-transposed X with N/C-transposed dY as the kernel (strides and dilations swapped); groups 1 only.</summary>
    ConvOverTransposed,
}
