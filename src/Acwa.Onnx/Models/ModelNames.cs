namespace Acwa.Onnx.Models;

/// <summary>Value names shared by the built-in model graphs.</summary>
internal static class ModelNames
{
    /// <summary>The image batch input, fp32 [N, C, H, W].</summary>
    public const string Input = "x";

    /// <summary>The class-score output, fp32 [N, classes] (before softmax).</summary>
    public const string Output = "logits";
}
