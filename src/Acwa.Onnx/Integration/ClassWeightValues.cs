using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Integration;

/// <summary>
/// The class-weights tensor a weighted loss reads: fp32 [C] in CPU memory. Feed it as the loss graph's weight input
/// (e.g. the <c>class_weights</c> input of our training graphs, or the third input of an ONNX
/// <c>SoftmaxCrossEntropyLoss</c> / <c>NegativeLogLikelihoodLoss</c> node), by name in
/// <c>InferenceSession.Run</c> or with <c>OrtIoBinding.BindInput</c>; ONNX Runtime copies it to the device when the
/// session runs on a GPU.
/// </summary>
public static class ClassWeightValues
{
    /// <summary>
    /// A new OrtValue fp32 [C] holding <paramref name="weights"/> (rounded to float) in memory it owns; the caller
    /// disposes it. Update it in place each epoch with <see cref="CopyTo"/> so that a bound input keeps pointing at it.
    /// </summary>
    /// <exception cref="ArgumentException">Empty, or a weight is negative or not finite (the message names the class).</exception>
    public static OrtValue Create(ReadOnlySpan<double> weights)
    {
        Check(weights);
        var value = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float, [weights.Length]);
        try
        {
            CopyTo(weights, value);
            return value;
        }
        catch
        {
            value.Dispose();
            throw;
        }
    }

    /// <summary>Overwrites <paramref name="target"/> (fp32 [C], CPU memory) with <paramref name="weights"/>.</summary>
    /// <exception cref="ArgumentException">Lengths differ, the target is not fp32 [C] on the CPU, or a weight is invalid.</exception>
    public static void CopyTo(ReadOnlySpan<double> weights, OrtValue target)
    {
        ArgumentNullException.ThrowIfNull(target);
        Check(weights);
        var info = target.GetTensorTypeAndShape();
        if (info.ElementDataType != Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float || info.Shape.Length != 1 || info.Shape[0] != weights.Length)
            throw new ArgumentException($"target is {info.ElementDataType} [{string.Join(", ", info.Shape)}]; expected Float [{weights.Length}]", nameof(target));
        if (target.GetTensorMemoryInfo().GetDeviceType() != OrtMemoryInfoDeviceType.CPU)
            throw new ArgumentException($"target lives in {target.GetTensorMemoryInfo().Name} memory; expected CPU memory", nameof(target));
        var dst = target.GetTensorMutableDataAsSpan<float>();
        for (int c = 0; c < weights.Length; c++) dst[c] = (float)weights[c];
    }

    private static void Check(ReadOnlySpan<double> weights)
    {
        if (weights.Length == 0) throw new ArgumentException("class weights are empty", nameof(weights));
        for (int c = 0; c < weights.Length; c++)
            if (!(weights[c] >= 0) || !double.IsFinite(weights[c]))
                throw new ArgumentException($"class weight {c} is {weights[c]}; weights must be finite and non-negative", nameof(weights));
    }
}
