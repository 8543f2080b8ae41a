namespace Acwa.Onnx.Autodiff;

/// <summary>How the gradient of MaxPool with respect to its input is written out in standard ONNX ops.</summary>
public enum MaxPoolGradMethod
{
    /// <summary>The fastest measured method for <see cref="GradientOptions.Device"/> (see docs/autodiff.md).</summary>
    Auto,

    /// <summary>
    /// The forward MaxPool gains its Indices output; dY is scattered to those positions by ScatterElements (reduction
    /// add) into zeros of X's shape. Works for every window geometry (overlapping, padded, dilated) and on CUDA.
    /// </summary>
    IndicesScatter,

    /// <summary>
    /// The forward MaxPool gains its Indices output; MaxUnpool(dY, Indices) places dY there. Used only for windows that
    /// tile X without overlap (every stride equal to its kernel size, dilations 1, no padding, ceil_mode 0, H and W
    /// multiples of the kernel; float), where no two windows pick the same element and MaxUnpool's output has X's size; other
    /// geometries use <see cref="IndicesScatter"/>. MaxUnpool has no CUDA kernel.
    /// </summary>
    IndicesUnpool,
}
