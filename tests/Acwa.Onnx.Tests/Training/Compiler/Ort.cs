using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Tests.Training.Compiler;

/// <summary>Runs small graphs in real ORT CPU sessions with host arrays.</summary>
internal sealed class Ort : IDisposable
{
    private readonly InferenceSession _s;

    public Ort(ModelProto model) => _s = new InferenceSession(OnnxModel.ToBytes(model));
    public Ort(string path) => _s = new InferenceSession(path);

    public IReadOnlyCollection<string> InputNames => _s.InputMetadata.Keys.ToList();

    public static NamedOnnxValue F(string name, float[] data, params int[] shape) =>
        NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(data, shape));

    public static NamedOnnxValue L(string name, long[] data, params int[] shape) =>
        NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(data, shape));

    public Dictionary<string, Array> Run(IEnumerable<NamedOnnxValue> feeds)
    {
        using var r = _s.Run(feeds.ToList());
        var d = new Dictionary<string, Array>();
        foreach (var v in r)
        {
            d[v.Name] = v.ElementType switch
            {
                TensorElementType.Float => v.AsTensor<float>().ToArray(),
                TensorElementType.Int64 => v.AsTensor<long>().ToArray(),
                _ => throw new InvalidOperationException($"unexpected output type {v.ElementType} of '{v.Name}'"),
            };
        }
        return d;
    }

    public void Dispose() => _s.Dispose();
}
