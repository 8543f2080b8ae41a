using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Tests.Autodiff;

/// <summary>
/// Finite-difference checks of the ReduceSumSquare / ReduceL1 / ReduceL2 / ReduceLogSumExp rules (double precision, axes as
/// an input and as the opset-13 attribute, keepdims both ways, all axes), of Instance- and GroupNormalization trained
/// through <see cref="NormalizationLowering"/> (fp32: ORT's LayerNormalization), of Tile and of Gelu. The tiny_normed PyTorch fixture
/// (Models/TorchTrainingStepTests) checks them in a whole model: GroupNorm, InstanceNorm2d, F.normalize, logsumexp, L1 norm.
/// </summary>
public class ReduceAndNormalizationGradTests
{
    public static TheoryData<string, long[]?, long> Reductions()
    {
        var data = new TheoryData<string, long[]?, long>();
        foreach (var op in new[] { "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp" })
        {
            data.Add(op, [1], 1);
            data.Add(op, [-1, 0], 0);
            data.Add(op, null, 0); // all axes
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Reductions))]
    public void ReductionGradientsMatchFiniteDifferences(string op, long[]? axes, long keepdims)
    {
        // |x| >= 0.2 keeps ReduceL1 away from its kink.
        var r = GradCheck.Check(ElementType.Double, [new("x", [3, 4, 5], GradCheck.AwayFromZero)], b =>
        {
            var inputs = new List<string> { "x" };
            if (axes is not null) inputs.Add(b.ConstInt64("axes", axes));
            return b.Op(op, inputs, Attr.Int("keepdims", keepdims));
        }, samples: 30);
        Assert.True(r.Checked >= 10);
    }

    [Theory]
    [InlineData("ReduceL2")]
    [InlineData("ReduceLogSumExp")]
    public void AxesAsTheOpset13AttributeWork(string op)
    {
        var r = GradCheck.Check(ElementType.Double, [new("x", [3, 4, 5])], b => b.Op(op, ["x"], Attr.Ints("axes", 2), Attr.Int("keepdims", 0)),
            samples: 20, opset: 13);
        Assert.True(r.Checked > 0);
    }

    [Fact]
    public void ReduceL2OfAnAllZeroSliceHasAZeroGradientLikePyTorch()
    {
        // Row 0 is all zeros: PyTorch's norm backward gives 0 there; X dY / Y would be 0 / 0.
        var values = new double[2 * 3];
        values[3] = 0.5; values[4] = -1; values[5] = 2;
        var g = GradCheck.GradAt(ElementType.Double, [new("x", [2, 3])], [values],
            b => b.Op("ReduceL2", ["x", b.ConstInt64("axes", 1)], Attr.Int("keepdims", 1)), new GradientOptions())[0];
        Assert.All(g.Take(3), v => Assert.Equal(0.0, v));
        Assert.All(g, v => Assert.True(double.IsFinite(v)));
        Assert.Contains(g.Skip(3), v => v != 0);
    }

    [Theory]
    [InlineData(new long[] { 2, 3, 4, 5 }, 1e-5f)]
    [InlineData(new long[] { 2, 3, 7 }, 1e-3f)]
    public void InstanceNormalizationTrainsThroughItsLayerNormalizationForm(long[] dims, float epsilon)
    {
        long ch = dims[1];
        var r = GradCheck.Check(ElementType.Float,
            [new("x", dims, GradCheck.Uniform), new("scale", [ch], GradCheck.Positive), new("bias", [ch], GradCheck.Uniform)],
            b => b.Op("InstanceNormalization", ["x", "scale", "bias"], Attr.Float("epsilon", epsilon)),
            forwardRewrite: (b, s) => Assert.Equal(1, NormalizationLowering.Apply(b, s, opset: 18)), samples: 20, step: 1e-3, tolerance: 2e-2);
        Assert.True(r.Checked >= 10);
    }

    /// <summary>GroupNormalization: opset 18 takes scale and bias per group, opset 21 per channel.</summary>
    [Theory]
    [InlineData(18, 2L)]
    [InlineData(21, 2L)]
    [InlineData(21, 6L)] // one channel per group: instance normalization
    public void GroupNormalizationTrainsThroughItsLayerNormalizationForm(int opset, long groups)
    {
        long ch = 6, affine = opset < 21 ? groups : ch;
        var r = GradCheck.Check(ElementType.Float,
            [new("x", [2, ch, 3, 4], GradCheck.Uniform), new("scale", [affine], GradCheck.Positive), new("bias", [affine], GradCheck.Uniform)],
            b => b.Op("GroupNormalization", ["x", "scale", "bias"], Attr.Int("num_groups", groups), Attr.Float("epsilon", 1e-4f)),
            forwardRewrite: (b, s) => Assert.Equal(1, NormalizationLowering.Apply(b, s, opset)), samples: 20, step: 1e-3, tolerance: 2e-2, opset: opset);
        Assert.True(r.Checked >= 10);
    }

    [Theory]
    [InlineData(new long[] { 2, 1, 3 })]
    [InlineData(new long[] { 3, 1, 1 })]
    [InlineData(new long[] { 1, 1, 1 })]
    public void TileSumsTheRepeatsGradients(long[] repeats)
    {
        // Axis 1 is the harness's batch axis (its dY is fed at the input's batch size), so it is not repeated.
        var r = GradCheck.Check(ElementType.Double, [new("x", [2, 3, 4], BatchAxis: 1)], b => b.Op("Tile", ["x", b.ConstInt64("repeats", repeats)]), samples: 24);
        Assert.True(r.Checked >= 10);
    }

    /// <summary>Gelu is an opset-20 op (torch's F.gelu exported at opset 20+); ORT's CPU kernel is float only.</summary>
    [Theory]
    [InlineData("none")]
    [InlineData("tanh")]
    public void GeluGradientMatchesFiniteDifferences(string approximate)
    {
        var r = GradCheck.Check(ElementType.Float, [new("x", [4, 25], v => 3 * GradCheck.Uniform(v))],
            b => b.Op("Gelu", ["x"], Attr.String("approximate", approximate)), samples: 40, step: 1e-2, tolerance: 2e-3, opset: 20);
        Assert.True(r.Checked >= 10);
    }

    /// <summary>
    /// The lowered forms compute what ONNX Runtime's own InstanceNormalization and GroupNormalization compute (the
    /// finite-difference checks above differentiate the lowered form, so this pins it to the original node).
    /// </summary>
    [Theory]
    [InlineData("InstanceNormalization", 18, 0L)]
    [InlineData("GroupNormalization", 18, 2L)]
    [InlineData("GroupNormalization", 21, 3L)]
    public void LoweredNormalizationGivesTheNodesValues(string op, int opset, long groups)
    {
        long ch = 6, affine = op == "GroupNormalization" && opset < 21 ? groups : ch;
        var rng = new Random(9);
        float[] Draw(long n, double lo, double hi) => Enumerable.Range(0, (int)n).Select(_ => (float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
        var b = new GraphBuilder("norm");
        b.Input("x", ElementType.Float, null, ch, 3, 5);
        var scale = b.Initializer(Tensors.Float("scale", [affine], Draw(affine, 0.5, 1.5)));
        var bias = b.Initializer(Tensors.Float("bias", [affine], Draw(affine, -0.5, 0.5)));
        var y = op == "GroupNormalization"
            ? b.Op(op, ["x", scale, bias], Attr.Int("num_groups", groups), Attr.Float("epsilon", 1e-3f))
            : b.Op(op, ["x", scale, bias], Attr.Float("epsilon", 1e-3f));
        b.OutputAs(y, "y", ElementType.Float, null, ch, 3, 5);
        var m = OnnxModel.Create(b.Graph, opset);
        var lowered = m.Clone();
        var shapes = ShapeProbe.Infer(lowered, "x", [-1, ch, 3, 5]);
        Assert.Equal(1, NormalizationLowering.Apply(new GraphBuilder(lowered.Graph), shapes, opset));
        Assert.DoesNotContain(lowered.Graph.Node, n => n.OpType == op);
        var x = Draw(2 * ch * 15, -2, 2).Select((v, i) => v + i % 7 * 0.3f).ToArray(); // channels with different means
        var (expected, shape) = Models.ModelTestUtil.Run(m, x, [2, (int)ch, 3, 5]);
        var (actual, loweredShape) = Models.ModelTestUtil.Run(lowered, x, [2, (int)ch, 3, 5]);
        Assert.Equal(shape, loweredShape);
        Assert.True(Models.ModelTestUtil.MaxScaledError(actual, expected) < 1e-5, $"max scaled error {Models.ModelTestUtil.MaxScaledError(actual, expected)}");
    }

    /// <summary>Smooth activations of newer exports (Mish is an opset-18 op); float, as ORT's CPU kernels for most of them.</summary>
    [Theory]
    [InlineData("Selu", 1.7, 1.05)]
    [InlineData("Selu", 1.0, 2.0)]
    [InlineData("Celu", 1.0, 0)]
    [InlineData("Celu", 0.5, 0)]
    [InlineData("Mish", 0, 0)]
    [InlineData("Softsign", 0, 0)]
    [InlineData("Sin", 0, 0)]
    [InlineData("Cos", 0, 0)]
    public void SmoothActivationGradientsMatchFiniteDifferences(string op, double alpha, double gamma)
    {
        var attrs = new List<AttributeProto>();
        if (op is "Selu" or "Celu") attrs.Add(Attr.Float("alpha", (float)alpha));
        if (op == "Selu") attrs.Add(Attr.Float("gamma", (float)gamma));
        // |x| >= 0.2: away from the kinks of Selu/Celu's second derivative at 0 (their first derivatives are what is checked).
        var r = GradCheck.Check(ElementType.Float, [new("x", [4, 25], v => 3 * GradCheck.AwayFromZero(v))],
            b => b.Op(op, ["x"], [.. attrs]), samples: 40, step: 1e-2, tolerance: 2e-3);
        Assert.True(r.Checked >= 10);
    }
}
