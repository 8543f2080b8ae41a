using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Models;

/// <summary>
/// Adds PyTorch-like layers to a <see cref="GraphBuilder"/>, with parameters named as in a PyTorch
/// <c>state_dict</c> (<c>conv1.weight</c>, <c>layer1.0.bn1.running_mean</c>, <c>fc.weight</c>) and initialised
/// like PyTorch's defaults from one seeded stream: weights Kaiming-uniform with a = sqrt(5), which is
/// uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), batch-norm gamma 1,
/// beta 0, running mean 0, running variance 1. Values are drawn in the order the layers are added, so the same
/// seed and the same calls give the same tensors, bit for bit.
/// </summary>
internal sealed class LayerBuilder
{
    /// <summary>Batch-norm epsilon (PyTorch's default).</summary>
    public const float BatchNormEpsilon = 1e-5f;

    /// <summary>ONNX batch-norm momentum: weight of the old running value (PyTorch's momentum 0.1 is 1 - this).</summary>
    public const float BatchNormMomentum = 0.9f;

    private readonly SplitMix64 _rng;

    public LayerBuilder(string graphName, int seed)
    {
        B = new GraphBuilder(graphName);
        _rng = new SplitMix64((ulong)(uint)seed);
    }

    public GraphBuilder B { get; }

    /// <summary>A uniform(-bound, bound) fp32 parameter named <paramref name="name"/>.</summary>
    private string Uniform(string name, long[] dims, double bound)
    {
        var values = new float[Tensors.ElementCount(dims)];
        for (int i = 0; i < values.Length; i++) values[i] = (float)((2.0 * _rng.NextUnit() - 1.0) * bound);
        return Exact(Tensors.Float(name, dims, values));
    }

    private string Filled(string name, long length, float value)
    {
        var values = new float[length];
        Array.Fill(values, value);
        return Exact(Tensors.Float(name, [length], values));
    }

    private string Exact(TensorProto t)
    {
        var name = t.Name;
        B.Reserve(name);
        B.Graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Conv2d (square kernel, symmetric padding, group 1); returns the output value.</summary>
    public string Conv(string name, string x, long inChannels, long outChannels, long kernel, long stride, long pad, bool bias)
    {
        long fanIn = inChannels * kernel * kernel;
        double bound = 1.0 / Math.Sqrt(fanIn);
        var w = Uniform($"{name}.weight", [outChannels, inChannels, kernel, kernel], bound);
        var inputs = new List<string> { x, w };
        if (bias) inputs.Add(Uniform($"{name}.bias", [outChannels], bound));
        return B.Op("Conv", inputs,
            Attr.Ints("kernel_shape", kernel, kernel), Attr.Ints("strides", stride, stride),
            Attr.Ints("pads", pad, pad, pad, pad), Attr.Ints("dilations", 1, 1), Attr.Int("group", 1));
    }

    /// <summary>BatchNorm2d in inference form (running statistics as initializers).</summary>
    public string BatchNorm(string name, string x, long channels)
    {
        var gamma = Filled($"{name}.weight", channels, 1f);
        var beta = Filled($"{name}.bias", channels, 0f);
        var mean = Filled($"{name}.running_mean", channels, 0f);
        var variance = Filled($"{name}.running_var", channels, 1f);
        return B.Op("BatchNormalization", [x, gamma, beta, mean, variance],
            Attr.Float("epsilon", BatchNormEpsilon), Attr.Float("momentum", BatchNormMomentum));
    }

    /// <summary>Linear (Gemm with transB = 1 and a PyTorch-layout weight [out, in]); <paramref name="output"/> names the result when given.</summary>
    public string Linear(string name, string x, long inFeatures, long outFeatures, string? output = null)
    {
        double bound = 1.0 / Math.Sqrt(inFeatures);
        var w = Uniform($"{name}.weight", [outFeatures, inFeatures], bound);
        var b = Uniform($"{name}.bias", [outFeatures], bound);
        AttributeProto[] attrs = [Attr.Float("alpha", 1f), Attr.Float("beta", 1f), Attr.Int("transB", 1)];
        return output is null ? B.Op("Gemm", [x, w, b], attrs) : B.OpNamed("Gemm", [x, w, b], output, attrs);
    }

    public string Relu(string x) => B.Op("Relu", [x]);

    public string MaxPool2(string x) =>
        B.Op("MaxPool", [x], Attr.Ints("kernel_shape", 2, 2), Attr.Ints("strides", 2, 2), Attr.Ints("pads", 0, 0, 0, 0));

    public string Flatten(string x) => B.Op("Flatten", [x], Attr.Int("axis", 1));

    /// <summary>Declares the image input <c>x</c> [N, C, H, W].</summary>
    public string ImageInput(long channels, long height, long width) =>
        B.Input(ModelNames.Input, ElementType.Float, null, channels, height, width);

    /// <summary>Declares <c>logits</c> [N, classes] as the graph output and wraps the graph in an opset-18 model.</summary>
    public ModelProto Finish(long classes, string description)
    {
        B.Output(ModelNames.Output, ElementType.Float, null, classes);
        var model = OnnxModel.Create(B.Graph);
        model.DocString = description;
        return model;
    }
}
