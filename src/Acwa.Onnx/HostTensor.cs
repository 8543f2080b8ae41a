using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Acwa.Onnx;

/// <summary>A named fp32/int64 tensor held on the host.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="Shape">Dimensions.</param>
/// <param name="Data">Row-major values; exactly one of <see cref="Data"/> / <see cref="Int64Data"/> is set.</param>
/// <param name="Int64Data">Row-major int64 values.</param>
public sealed record HostTensor(string Name, long[] Shape, float[]? Data, long[]? Int64Data = null)
{
    /// <summary>An fp32 tensor.</summary>
    public static HostTensor Of(string name, long[] shape, float[] data) => new(name, shape, data);

    /// <summary>An int64 tensor.</summary>
    public static HostTensor OfInt64(string name, long[] shape, long[] data) => new(name, shape, null, data);

    /// <summary>Number of elements.</summary>
    public long Length => Data?.Length ?? Int64Data!.Length;

    /// <summary>A host OrtValue over this tensor's array (fp32 or int64; no copy): dispose it before the array goes.</summary>
    public Microsoft.ML.OnnxRuntime.OrtValue ToOrtValue() => Data is not null
        ? Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(Data, Shape)
        : Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(Int64Data!, Shape);
}
