using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Tests.Autodiff;

/// <summary>
/// <see cref="Conv1dLowering"/>: 1-D Conv / MaxPool / AveragePool as their 2-D forms on one row give the 1-D node's values
/// (every output, MaxPool's Indices included), and differentiate correctly through the 2-D rules. The whole-model check
/// against PyTorch is the tiny_conv1d fixture in Models/TorchTrainingStepTests.
/// </summary>
public class Conv1dLoweringTests
{
    private const long C = 4, L = 11;

    /// <summary>A one-node graph on x [N, 4, 11]; Conv gets weights [cout, 4 / group, k] as an input with a default.</summary>
    private static ModelProto Model(string op, int outputs, params AttributeProto[] attrs)
    {
        var b = new GraphBuilder("one_d");
        b.Input("x", ElementType.Float, null, C, L);
        var inputs = new List<string> { "x" };
        if (op == "Conv")
        {
            long group = attrs.FirstOrDefault(a => a.Name == "group")?.I ?? 1, k = attrs.First(a => a.Name == "kernel_shape").Ints[0];
            var rng = new Random(5);
            b.Input("w", ElementType.Float, 6, C / group, k);
            b.Graph.Initializer.Add(Tensors.Float("w", [6, C / group, k], Enumerable.Range(0, (int)(6 * C / group * k)).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray()));
            inputs.Add("w");
            inputs.Add(b.Initializer(Tensors.Float("bias", [6], [0.1f, -0.2f, 0.3f, 0f, 0.5f, -0.4f])));
        }
        foreach (var o in b.OpMulti(op, inputs, outputs, attrs))
            b.Graph.Output.Add(new ValueInfoProto { Name = o, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)(o.EndsWith("out1") ? ElementType.Int64 : ElementType.Float) } } });
        return OnnxModel.Create(b.Graph);
    }

    public static TheoryData<string, int, AttributeProto[]> Nodes => new()
    {
        { "Conv", 1, [Attr.Ints("kernel_shape", 3), Attr.Ints("pads", 1, 2)] },
        { "Conv", 1, [Attr.Ints("kernel_shape", 3), Attr.Ints("strides", 2), Attr.Ints("dilations", 2), Attr.Int("group", 2), Attr.Ints("pads", 2, 0)] },
        { "Conv", 1, [Attr.Ints("kernel_shape", 4), Attr.Ints("strides", 2), Attr.String("auto_pad", "SAME_UPPER")] },
        { "Conv", 1, [Attr.Ints("kernel_shape", 2), Attr.String("auto_pad", "VALID")] },
        { "MaxPool", 1, [Attr.Ints("kernel_shape", 3), Attr.Ints("strides", 2), Attr.Ints("pads", 1, 1)] },
        { "MaxPool", 1, [Attr.Ints("kernel_shape", 2), Attr.Ints("strides", 2), Attr.Int("ceil_mode", 1), Attr.Ints("dilations", 2)] },
        { "MaxPool", 2, [Attr.Ints("kernel_shape", 3), Attr.Ints("strides", 2), Attr.Ints("pads", 1, 0)] },
        { "MaxPool", 2, [Attr.Ints("kernel_shape", 3), Attr.Ints("strides", 2), Attr.Ints("pads", 1, 1)] },
        { "AveragePool", 1, [Attr.Ints("kernel_shape", 3), Attr.Ints("strides", 2), Attr.Ints("pads", 1, 1), Attr.Int("count_include_pad", 1)] },
        { "AveragePool", 1, [Attr.Ints("kernel_shape", 2), Attr.Ints("strides", 3)] },
    };

    private static ModelProto Lower(ModelProto m, int expected = 1)
    {
        var lowered = m.Clone();
        var shapes = ShapeProbe.Infer(lowered, "x", [-1, C, L]);
        Assert.Equal(expected, Conv1dLowering.Apply(new GraphBuilder(lowered.Graph), shapes));
        return lowered;
    }

    private static List<(int[] Shape, float[] F, long[] I)> RunAll(ModelProto m, float[] x)
    {
        using var session = new InferenceSession(OnnxModel.ToBytes(m));
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, [3, (int)C, (int)L]))]);
        return results.Select(r => r.Value is DenseTensor<long> li
            ? (li.Dimensions.ToArray(), Array.Empty<float>(), li.ToArray())
            : (r.AsTensor<float>().Dimensions.ToArray(), r.AsTensor<float>().ToArray(), Array.Empty<long>())).ToList();
    }

    [Theory]
    [MemberData(nameof(Nodes))]
    public void LoweredNodeGivesTheOneDimensionalNodesOutputs(string op, int outputs, AttributeProto[] attrs)
    {
        var m = Model(op, outputs, attrs);
        var lowered = Lower(m);
        Assert.All(lowered.Graph.Node.Where(n => n.OpType == op), n => Assert.Equal(2, n.GetInts("kernel_shape")!.Length));
        var x = Enumerable.Range(0, 3 * (int)(C * L)).Select(i => (float)Math.Sin(i * 0.71)).ToArray();
        var expected = RunAll(m, x);
        var actual = RunAll(lowered, x);
        Assert.Equal(outputs, actual.Count);
        for (int i = 0; i < outputs; i++)
        {
            Assert.Equal(expected[i].Shape, actual[i].Shape);
            Assert.Equal(expected[i].I, actual[i].I); // MaxPool's Indices: flat 1-D index = flat index on one row
            Assert.True(Models.ModelTestUtil.MaxScaledError(actual[i].F, expected[i].F) < 1e-6, $"output {i} differs");
        }
    }

    [Theory]
    [MemberData(nameof(Nodes))]
    public void LoweredNodeHasFiniteDifferenceGradients(string op, int outputs, AttributeProto[] attrs)
    {
        var inputs = new List<GradInput> { new("x", [3, C, L], GradCheck.Uniform) };
        long k = attrs.First(a => a.Name == "kernel_shape").Ints[0], group = attrs.FirstOrDefault(a => a.Name == "group")?.I ?? 1;
        if (op == "Conv") inputs.Add(new("w", [6, C / group, k], GradCheck.Uniform));
        var r = GradCheck.Check(ElementType.Float, [.. inputs],
            fb => fb.OpMulti(op, inputs.Select(i => i.Name).ToList(), outputs, attrs)[0],
            forwardRewrite: (b, s) => Assert.Equal(1, Conv1dLowering.Apply(b, s)), samples: 20, step: 1e-3); // small steps: no max changes place
        Assert.True(r.Checked > 0);
    }

    [Fact]
    public void TwoDimensionalNodesAreLeftAlone()
    {
        var b = new GraphBuilder("two_d");
        b.Input("x", ElementType.Float, null, C, 5, 5);
        var y = b.Op("MaxPool", ["x"], Attr.Ints("kernel_shape", 2, 2));
        b.Graph.Output.Add(new ValueInfoProto { Name = y, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)ElementType.Float } } });
        var m = OnnxModel.Create(b.Graph);
        var shapes = ShapeProbe.Infer(m, "x", [-1, C, 5, 5]);
        Assert.Equal(0, Conv1dLowering.Apply(new GraphBuilder(m.Graph), shapes));
    }
}
