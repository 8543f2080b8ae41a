namespace Acwa.Onnx.Models;

/// <summary>How a CIFAR ResNet block's shortcut matches a change of stride and width (He et al. 2016, section 4.2).</summary>
public enum ResNetShortcut
{
    /// <summary>
    /// Option A (the default, as in the LDAM-DRW code): identity on every second row and column (Slice with step 2
    /// on H and W) and zero channels padded equally on both sides (Pad on the channel axis); no parameters.
    /// </summary>
    A,

    /// <summary>Option B: a 1x1 convolution with the block's stride followed by batch norm
    /// (parameters <c>layerS.0.shortcut.0.weight</c> and <c>layerS.0.shortcut.1.*</c>).</summary>
    B,
}
