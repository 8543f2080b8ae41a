using Acwa.Onnx.Metrics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Integration;

/// <summary>
/// Confusion-matrix accumulation straight from ONNX Runtime values, for callers that run their own
/// <see cref="InferenceSession"/>: logits fp32 or fp16 [N, C] (argmax on the host with the SIMD kernels of
/// <see cref="ConfusionMatrix"/>, ties to the lowest index), or predictions int64/int32 [N].
/// The values must be in CPU memory (outputs of <see cref="InferenceSession.Run(RunOptions, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string})"/>
/// are, as are outputs bound to CPU buffers with IOBinding); their data is read in place, not copied.
/// </summary>
public static class OrtValueMetrics
{
    /// <summary>
    /// Adds one batch: <paramref name="labels"/>[i] is the true class of row i of <paramref name="logits"/>, an fp32 or
    /// fp16 tensor [N, C] with C = <see cref="ConfusionMatrix.Classes"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The value is not a tensor, not fp32/fp16/bf16, not 2-D, has another class count or
    /// another row count than <paramref name="labels"/> (the message gives the shape), or lives in device memory.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label is outside [0, C).</exception>
    /// <exception cref="ArgumentException">With <see cref="NanPolicy.Throw"/>, a row holds NaN.</exception>
    public static void AccumulateLogits(this ConfusionMatrix matrix, ReadOnlySpan<int> labels, OrtValue logits, NanPolicy nanPolicy = NanPolicy.Throw)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentNullException.ThrowIfNull(logits);
        var info = TensorInfo(logits, nameof(logits));
        var shape = info.Shape;
        if (shape.Length != 2 || shape[1] != matrix.Classes || shape[0] != labels.Length)
            throw new ArgumentException($"logits have shape [{string.Join(", ", shape)}]; expected [{labels.Length}, {matrix.Classes}] ({labels.Length} labels, {matrix.Classes} classes)", nameof(logits));
        switch (info.ElementDataType)
        {
            case TensorElementType.Float:
                matrix.AccumulateLogits(labels, logits.GetTensorDataAsSpan<float>(), nanPolicy);
                break;
            case TensorElementType.Float16:
                // ORT's Float16 is a 16-bit IEEE half, the same bits as System.Half.
                matrix.AccumulateLogits(labels, System.Runtime.InteropServices.MemoryMarshal.Cast<Float16, Half>(logits.GetTensorDataAsSpan<Float16>()), nanPolicy);
                break;
            case TensorElementType.BFloat16:
                matrix.AccumulateLogits(labels, logits.GetTensorDataAsSpan<BFloat16>(), nanPolicy);
                break;
            default:
                throw new ArgumentException($"logits have element type {info.ElementDataType}; expected Float, Float16 or BFloat16", nameof(logits));
        }
    }

    /// <summary>
    /// Adds one batch of predicted classes: <paramref name="predictions"/> is an int64 or int32 tensor [N] (or [N, 1]), e.g.
    /// the output of an <c>ArgMax</c> node.
    /// </summary>
    /// <exception cref="ArgumentException">Not a tensor, wrong element type, or not N values (the message gives the shape).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label or prediction is outside [0, C).</exception>
    public static void AccumulatePredictions(this ConfusionMatrix matrix, ReadOnlySpan<int> labels, OrtValue predictions)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentNullException.ThrowIfNull(predictions);
        var info = TensorInfo(predictions, nameof(predictions));
        var shape = info.Shape;
        if (!(shape.Length == 1 || (shape.Length == 2 && shape[1] == 1)) || shape[0] != labels.Length)
            throw new ArgumentException($"predictions have shape [{string.Join(", ", shape)}]; expected [{labels.Length}]", nameof(predictions));
        switch (info.ElementDataType)
        {
            case TensorElementType.Int32:
                matrix.Accumulate(labels, predictions.GetTensorDataAsSpan<int>());
                break;
            case TensorElementType.Int64:
            {
                var p = predictions.GetTensorDataAsSpan<long>();
                var y = new long[labels.Length];
                for (int i = 0; i < y.Length; i++) y[i] = labels[i];
                matrix.Accumulate(y, p);
                break;
            }
            default:
                throw new ArgumentException($"predictions have element type {info.ElementDataType}; expected Int64 or Int32", nameof(predictions));
        }
    }

    private static OrtTensorTypeAndShapeInfo TensorInfo(OrtValue value, string name)
    {
        if (!value.IsTensor) throw new ArgumentException($"{name} is a {value.OnnxType}, not a tensor", name);
        if (value.GetTensorMemoryInfo().GetDeviceType() != OrtMemoryInfoDeviceType.CPU)
            throw new ArgumentException($"{name} lives in {value.GetTensorMemoryInfo().Name} memory; bind it to a CPU buffer (or copy it to the host) first", name);
        return value.GetTensorTypeAndShape();
    }
}
