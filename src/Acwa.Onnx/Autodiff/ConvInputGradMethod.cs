namespace Acwa.Onnx.Autodiff;

/// <summary>How the gradient of a convolution with respect to its input is written out in standard ONNX ops.</summary>
public enum ConvInputGradMethod
{
    /// <summary>The fastest measured method for <see cref="GradientOptions.Device"/> (see docs/autodiff.md).</summary>
    Auto,

    /// <summary>
    /// A Conv of dY (zero-interleaved by the stride when the stride is above 1) with the spatially flipped kernel whose
    /// input and output channels are swapped per group; edge padding or cropping makes the output X's size.
    /// </summary>
    FlippedConv,

    /// <summary>ConvTranspose of dY with the forward kernel, output_padding chosen so the output is X's size.</summary>
    ConvTranspose,

    /// <summary><see cref="FlippedConv"/> when every stride is 1, else <see cref="ConvTranspose"/>.</summary>
    FlippedConvStride1ElseTranspose,

    /// <summary>
    /// Depthwise convolutions (one input and one output channel per group): each channel's convolution as a dense
    /// [Ho Wo, H W] matrix (the kernel times a constant 0/1 tensor), applied to dY by one batched MatMul over the channels.
    /// Its work grows with (H W)^2, so it suits small feature maps. Other convolutions use
    /// <see cref="FlippedConvStride1ElseTranspose"/>.
    /// </summary>
    DepthwiseDense,
}
