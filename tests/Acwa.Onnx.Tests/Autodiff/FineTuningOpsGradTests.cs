using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using static Acwa.Onnx.Tests.Autodiff.GradCheck;

namespace Acwa.Onnx.Tests.Autodiff;

/// <summary>
/// Finite-difference checks of the rules for ops that imported models bring (MobileNetV3, GELU transformers,
/// embeddings): double precision where ORT's CPU kernels exist, float (h 1e-2, tolerance 1e-2) where they do not.
/// </summary>
public class FineTuningOpsGradTests
{
    private const ElementType D = ElementType.Double;
    private const ElementType F = ElementType.Float;

    /// <summary>Values in [-5, 5] at least 0.2 away from the kinks at -3, 0 and 3.</summary>
    private static double AwayFromKinks(Random r)
    {
        while (true)
        {
            double v = r.NextDouble() * 10 - 5;
            if (new[] { -3.0, 0.0, 3.0 }.All(k => Math.Abs(v - k) >= 0.2)) return v;
        }
    }

    [Fact]
    public void PowWithConstantAndInputExponents()
    {
        // constant 2 (x.pow(2), e.g. a decomposed LayerNorm's variance): dY 2x, no Pow in the backward pass
        var two = Check(D, [new("x", [2, 3], Positive)], g => g.Op("Pow", ["x", g.Initializer(Tensors.Double("two", [], [2.0]))]));
        Assert.Single(two.GradModel.Graph.Node, n => n.OpType == "Pow");
        Check(D, [new("x", [2, 3], Positive)], g => g.Op("Pow", ["x", g.Initializer(Tensors.Double("half", [], [0.5]))]));
        Check(D, [new("x", [2, 3], Positive), new("e", [3], Positive)], g => g.Op("Pow", ["x", "e"]));
        // an int64 exponent (a different type than the base): the gradient casts it
        Check(D, [new("x", [2, 3], AwayFromZero)], g => g.Op("Pow", ["x", g.ConstInt64("three", 3)]));
    }

    [Theory]
    [InlineData("Abs")]
    [InlineData("Reciprocal")]
    public void UnaryDoubleOps(string op) => Check(D, [new("x", [3, 4], AwayFromZero)], g => g.Op(op, ["x"]));

    [Theory]
    [InlineData("Erf", null)]
    [InlineData("Softplus", null)]
    [InlineData("Elu", 0.7)]
    [InlineData("HardSigmoid", 0.2)]     // ONNX default alpha 0.2, beta 0.5: kinks at -2.5 and 2.5
    [InlineData("HardSigmoid", 1.0 / 6)] // PyTorch's F.hardsigmoid exports alpha 1/6: kinks at -3 and 3
    [InlineData("HardSwish", null)]
    public void FloatActivations(string op, double? alpha)
    {
        var attrs = alpha is { } a ? new[] { Attr.Float("alpha", (float)a) } : [];
        double Draw(Random r)
        {
            // away from HardSigmoid(alpha=0.2)'s kinks at +-2.5 as well
            while (true) { var v = AwayFromKinks(r); if (Math.Abs(Math.Abs(v) - 2.5) >= 0.2) return v; }
        }
        Check(F, [new("x", [4, 6], Draw)], g => g.Op(op, ["x"], attrs), step: 1e-3, tolerance: 1e-2, samples: 24);
    }

    [Fact]
    public void HardSwishGradientAtItsBoundsFollowsPyTorch()
    {
        // PyTorch: x < -3 -> 0; -3 <= x <= 3 -> x/3 + 1/2; x > 3 -> 1.
        double[] x = [-3.5, -3, 0, 3, 3.5];
        var g = GradAt(F, [new("x", [5])], [x], b => b.Op("HardSwish", ["x"]), new GradientOptions());
        var r = GradAt(F, [new("x", [5])], [x], b => b.Op("Identity", ["x"]), new GradientOptions());
        double[] expected = [0, -0.5, 0.5, 1.5, 1];
        for (int i = 0; i < 5; i++) Assert.Equal(expected[i] * r[0][i], g[0][i], 6);
    }

    [Fact]
    public void PReluWithPerChannelSlope() =>
        Check(F, [new("x", [2, 3, 2, 2], AwayFromZero), new("slope", [3, 1, 1])], g => g.Op("PRelu", ["x", "slope"]), step: 1e-3, samples: 16);

    [Theory]
    [InlineData("Max")]
    [InlineData("Min")]
    public void MaxMinWithBroadcastingAndThreeInputs(string op)
    {
        Check(D, [new("x", [2, 3]), new("y", [3])], g => g.Op(op, ["x", "y"]));
        Check(D, [new("x", [2, 3]), new("y", [1, 3]), new("z", [3])], g => g.Op(op, ["x", "y", "z"]));
    }

    [Fact]
    public void MaxSplitsTheGradientOfTiesEvenly()
    {
        double[] v = [0.5, -1, 2];
        var g = GradAt(D, [new("x", [1, 3]), new("y", [1, 3])], [v, v], b => b.Op("Max", ["x", "y"]), new GradientOptions());
        var full = GradAt(D, [new("x", [1, 3])], [v], b => b.Op("Identity", ["x"]), new GradientOptions());
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(full[0][i] / 2, g[0][i], 12);
            Assert.Equal(full[0][i] / 2, g[1][i], 12);
        }
    }

    [Fact]
    public void WhereRoutesTheGradientByTheCondition() =>
        Check(D, [new("x", [2, 3]), new("y", [3])], g => g.Op("Where", [g.Op("Greater", ["x", "y"]), "x", "y"]));

    [Fact]
    public void ExpandSumsOverTheBroadcastAxes() =>
        Check(D, [new("x", [2, 1, 3]), new("w", [4, 1])], g => g.Op("Mul", [g.Op("Expand", ["x", g.ConstInt64("shape", 1, 4, 3)]), "w"]));

    [Fact]
    public void SplitWithAnOutputThatGetsNoGradient()
    {
        var r = Check(D, [new("x", [2, 6])], g =>
        {
            var parts = g.OpMulti("Split", ["x", g.ConstInt64("sizes", 2, 2, 2)], 3, Attr.Int("axis", 1));
            return g.Op("Add", [parts[0], g.Op("Mul", [parts[2], parts[2]])]);
        });
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "Concat");
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    public void GatherOfOneConstantIndexIsAPad(long index)
    {
        // x[:, 0] / x[:, -1] on [N, T, D] (a class token): Unsqueeze + Pad, no scatter.
        var r = Check(D, [new("x", [2, 4, 3])], g => g.Op("Gather", ["x", g.Initializer(Tensors.Int64("i", [], [index]))], Attr.Int("axis", 1)));
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "Pad");
        Assert.DoesNotContain(r.GradModel.Graph.Node, n => n.OpType == "ScatterElements");
    }

    [Fact]
    public void GathersThatTileAnAxisGetTheirGradientsConcatenated()
    {
        // q, k, v = qkv[0], qkv[1], qkv[2] with qkv [3, N, 4]: the three padded gradients become one Concat (no Pads).
        var r = Check(D, [new("qkv", [3, 2, 4], BatchAxis: 1), new("w", [4])], g =>
        {
            string Pick(long i, string name) => g.Op("Gather", ["qkv", g.Initializer(Tensors.Int64(name, [], [i]))], Attr.Int("axis", 0));
            var q = Pick(0, "i0"); var k = Pick(1, "i1"); var v = Pick(2, "i2");
            return g.Op("Add", [g.Op("Mul", [g.Op("Mul", [q, k]), "w"]), g.Op("Mul", [v, "w"])]);
        });
        Assert.Single(r.GradModel.Graph.Node, n => n.OpType == "Concat");
        Assert.DoesNotContain(r.GradModel.Graph.Node, n => n.OpType == "Pad");
        // Only two of the three: the pieces do not tile the axis, so the padded gradients are summed.
        var partial = Check(D, [new("qkv", [3, 2, 4], BatchAxis: 1)], g =>
            g.Op("Mul", [g.Op("Gather", ["qkv", g.Initializer(Tensors.Int64("j0", [], [0]))], Attr.Int("axis", 0)),
                         g.Op("Gather", ["qkv", g.Initializer(Tensors.Int64("j2", [], [2]))], Attr.Int("axis", 0))]));
        Assert.Contains(partial.GradModel.Graph.Node, n => n.OpType == "Sum");
    }

    [Fact]
    public void GatherOnAxisZeroSumsRepeatedIndices()
    {
        // An embedding lookup: w [5, 3] gathered by [1, -1, 1, 0] (index 1 twice, -1 = row 4).
        var r = Check(D, [new("x", [2, 4, 3]), new("w", [5, 3])],
            g => g.Op("Mul", ["x", g.Op("Gather", ["w", g.ConstInt64("ids", 1, -1, 1, 0)])]), samples: 15);
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "ScatterElements");
        // indices of another shape ([2, 2]) and type (int32)
        Check(D, [new("x", [2, 2, 2, 3]), new("w", [5, 3])], g =>
        {
            var ids = g.Op("Reshape", [g.Op("Cast", [g.ConstInt64("ids2", 4, 4, -5, 2)], Attr.Int("to", 6)), g.ConstInt64("s22", 2, 2)]);
            return g.Op("Mul", ["x", g.Op("Gather", ["w", ids])]);
        }, samples: 15);
    }

    /// <summary>
    /// An embedding lookup whose token ids are shaped by the batch ([N, 4]: a text classifier's input): their count is
    /// known only at run time; repeated and negative ids sum into their rows.
    /// </summary>
    [Fact]
    public void GatherOnAxisZeroWithBatchShapedIndices()
    {
        var r = Check(D, [new("x", [2, 4, 3]), new("w", [5, 3])], g =>
        {
            var nl = g.Op("Slice", [g.Op("Shape", ["x"]), g.ConstInt64("s0", 0), g.ConstInt64("s2", 2)]);
            var ids = g.Op("Expand", [g.Initializer(Tensors.Int64("row", [1, 4], [1, -1, 1, 0])), nl]);
            return g.Op("Mul", ["x", g.Op("Gather", ["w", ids])]);
        }, samples: 15);
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "ScatterElements");
    }

    /// <summary>
    /// Gather on another axis with index tensors (x[:, idx], x[..., idx] in PyTorch): the axis moved to the front, rows
    /// scattered with reduction add (repeated and negative indices included), moved back.
    /// </summary>
    [Theory]
    [InlineData(1, new long[] { 0, 2, 2 }, new long[] { 3 })]
    [InlineData(2, new long[] { 1, -1, 0, 1 }, new long[] { 2, 2 })]
    [InlineData(-2, new long[] { 3, 0 }, new long[] { 2 })]
    public void GatherOnAnotherAxisWithIndexTensors(long axis, long[] indices, long[] indexDims) =>
        Check(D, [new("x", [2, 4, 3])], g => g.Op("Gather", ["x", g.Initializer(Tensors.Int64("i", indexDims, indices))], Attr.Int("axis", axis)), samples: 24);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(-1)]
    public void GatherElementsScattersItsGradientBack(long axis)
    {
        // torch.gather: indices of the output's shape, repeats and a negative index included (x [N, 2, 3], N = 1 here;
        // the shape probe's larger batches are fine, indices may be smaller than the data).
        long[] idx = axis == 1 ? [1, 0, 1, 0, -1, 1] : [2, 0, 2, -1, 1, 1];
        Check(D, [new("x", [1, 2, 3])],
            g => g.Op("GatherElements", ["x", g.Initializer(Tensors.Int64("i", [1, 2, 3], idx))], Attr.Int("axis", axis)), samples: 6);
    }

    [Theory]
    [InlineData("ReduceMax", 0)]
    [InlineData("ReduceMin", 1)]
    public void ReduceMaxMin(string op, long keepDims) =>
        Check(D, [new("x", [2, 3, 4])], g => g.Op(op, ["x", g.ConstInt64("axes", 1, 2)], Attr.Int("keepdims", keepDims)));

    [Fact]
    public void GlobalMaxPool() =>
        Check(F, [new("x", [2, 3, 2, 3])], g => g.Op("GlobalMaxPool", ["x"]), step: 1e-3, samples: 16);

    [Theory]
    [InlineData(-1)]
    [InlineData(1)]
    public void LayerNormalization(long axis)
    {
        long[] scaleDims = axis == -1 ? [4] : [3, 4];
        Check(D, [new("x", [2, 3, 4]), new("scale", scaleDims, Positive), new("bias", scaleDims)],
            g => g.Op("LayerNormalization", ["x", "scale", "bias"], Attr.Int("axis", axis), Attr.Float("epsilon", 1e-3f)));
        // fp32: mean and 1/std come from the forward node's Mean and InvStdDev outputs (added), nothing recomputed.
        var r = Check(F, [new("x", [2, 3, 4]), new("scale", scaleDims, Positive), new("bias", scaleDims)],
            g => g.Op("LayerNormalization", ["x", "scale", "bias"], Attr.Int("axis", axis), Attr.Float("epsilon", 1e-3f)));
        Assert.Equal(3, r.GradModel.Graph.Node.Single(n => n.OpType == "LayerNormalization").Output.Count);
        Assert.DoesNotContain(r.GradModel.Graph.Node, n => n.OpType is "Sqrt" or "Reciprocal");
    }
}
