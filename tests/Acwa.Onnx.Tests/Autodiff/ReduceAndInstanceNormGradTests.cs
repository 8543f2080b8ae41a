using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Tests.Autodiff;

/// <summary>
/// Finite-difference checks of the ReduceSumSquare / ReduceL1 / ReduceL2 / ReduceLogSumExp rules (double precision, axes as
/// an input and as the opset-13 attribute, keepdims both ways, all axes) and of InstanceNormalization trained through
/// <see cref="InstanceNormLowering"/> (fp32: ORT's LayerNormalization). The tiny_normed PyTorch fixture
/// (Models/TorchTrainingStepTests) checks them in a whole model: GroupNorm, InstanceNorm2d, F.normalize, logsumexp, L1 norm.
/// </summary>
public class ReduceAndInstanceNormGradTests
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
            forwardRewrite: (b, s) => Assert.Equal(1, InstanceNormLowering.Apply(b, s)), samples: 20, step: 1e-3, tolerance: 2e-2);
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
}
