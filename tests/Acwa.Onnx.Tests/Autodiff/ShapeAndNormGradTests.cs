using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using static Acwa.Onnx.Tests.Autodiff.GradCheck;

namespace Acwa.Onnx.Tests.Autodiff;

public class ShapeAndNormGradTests
{
    private const ElementType D = ElementType.Double;
    private const ElementType F = ElementType.Float;

    [Theory]
    [InlineData(-1)]
    [InlineData(1)]
    public void SoftmaxAndLogSoftmax(long axis)
    {
        Check(D, [new("x", [2, 3, 4])], g => g.Op("Softmax", ["x"], Attr.Int("axis", axis)));
        Check(D, [new("x", [2, 3, 4])], g => g.Op("LogSoftmax", ["x"], Attr.Int("axis", axis)));
    }

    [Fact]
    public void TransposeSqueezeUnsqueeze()
    {
        Check(D, [new("x", [2, 3, 4])], g => g.Op("Transpose", ["x"], Attr.Ints("perm", 2, 0, 1)));
        Check(D, [new("x", [2, 1, 4])], g => g.Op("Squeeze", ["x", g.ConstInt64("axes", 1)]));
        Check(D, [new("x", [2, 4])], g => g.Op("Unsqueeze", ["x", g.ConstInt64("axes", 1, 3)]));
    }

    [Fact]
    public void ConcatSplitsTheGradient() =>
        Check(D, [new("x", [2, 3]), new("y", [1, 3])], g => g.Op("Concat",
            ["x", g.Op("Mul", ["x", "y"]), g.Op("Slice", ["x", g.ConstInt64("s", 0), g.ConstInt64("e", 1), g.ConstInt64("a", 1)])], Attr.Int("axis", 1)));

    [Theory]
    [InlineData(new long[] { 1 }, new long[] { 4 }, new long[] { 1 })]             // unit step: Pad
    [InlineData(new long[] { 0, 1 }, new long[] { 5, 6 }, new long[] { 2, 2 })]     // steps 2
    [InlineData(new long[] { -1 }, new long[] { -100 }, new long[] { -1 })]         // reversed
    [InlineData(new long[] { 4 }, new long[] { 0 }, new long[] { -2 })]             // negative step 2
    public void SliceUnitAndNonUnitSteps(long[] starts, long[] ends, long[] steps)
    {
        long[] axes = starts.Length == 1 ? [2] : [1, 2];
        Check(D, [new("x", [2, 5, 6])], g => g.Op("Slice", ["x", g.ConstInt64("st", starts), g.ConstInt64("en", ends), g.ConstInt64("ax", axes), g.ConstInt64("sp", steps)]));
    }

    [Fact]
    public void PadConstantMode()
    {
        Check(D, [new("x", [2, 3, 4])], g => g.Op("Pad", ["x", g.ConstInt64("pads", 0, 1, 0, 0, 2, 3)]));
        Check(D, [new("x", [2, 3, 4])], g => g.Op("Pad", ["x", g.ConstInt64("pads", 1, 2, 0, 1), "", g.ConstInt64("axes", -1, 1)]));
    }

    [Fact]
    public void PadsComputedByOpsAreReadFromTheProbe()
    {
        // torch.onnx.export without constant folding computes F.pad's pads with ops (Concat/Reshape/Cast...).
        var r = Check(D, [new("x", [2, 3, 4])], g =>
        {
            var pads = g.Op("Concat", [g.ConstInt64("a", 0, 1), g.Op("Cast", [g.ConstInt64("b", 2, 0, 0, 3)], Attr.Int("to", 7))], Attr.Int("axis", 0));
            return g.Op("Pad", ["x", pads]);
        });
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "Slice");
    }

    [Theory]
    [InlineData("ReduceSum", 1)]
    [InlineData("ReduceSum", 0)]
    [InlineData("ReduceMean", 1)]
    [InlineData("ReduceMean", 0)]
    public void Reductions(string op, long keepDims)
    {
        Check(D, [new("x", [2, 3, 4])], g => g.Op(op, ["x", g.ConstInt64("axes", 1, 2)], Attr.Int("keepdims", keepDims)));
        // over the batch axis too: the count depends on the batch
        Check(D, [new("x", [2, 3, 4])], g => g.Op(op, ["x", g.ConstInt64("axes", 0, 2)], Attr.Int("keepdims", keepDims)));
    }

    [Fact]
    public void CastToFloatAndBack() =>
        Check(F, [new("x", [2, 3])], g => g.Op("Mul", [g.Op("Cast", [g.Op("Cast", ["x"], Attr.Int("to", 11))], Attr.Int("to", 1)), "x"]));

    [Fact]
    public void FanOutIsSummed()
    {
        // y = x * x + Relu(x) W: x fans out three ways.
        var r = Check(D, [new("x", [2, 3], AwayFromZero), new("w", [3, 3])],
            g => g.Op("Add", [g.Op("Mul", ["x", "x"]), g.Op("MatMul", [g.Op("Relu", ["x"]), "w"])]));
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "Sum" && n.Input.Count == 3);
    }

    [Fact]
    public void EvalModeBatchNormalization() =>
        Check(D, [new("x", [3, 2, 2, 2]), new("scale", [2]), new("bias", [2]), new("mean", [2]), new("var", [2], Positive)],
            g => g.Op("BatchNormalization", ["x", "scale", "bias", "mean", "var"], Attr.Float("epsilon", 1e-3f)),
            wrt: ["x", "scale", "bias"]);

    [Fact]
    public void TrainingModeBatchNormalization()
    {
        // After the rewrite the forward graph normalises with batch statistics; the FD check runs that graph.
        foreach (var dims in new[] { new long[] { 3, 2, 3, 2 }, [4, 3] })
        {
            var r = Check(D, [new("x", dims), new("scale", [dims[1]]), new("bias", [dims[1]])],
                g =>
                {
                    var mean = g.ConstFloat("rm", [dims[1]], new float[dims[1]]);
                    var v = g.ConstFloat("rv", [dims[1]], Enumerable.Repeat(1f, (int)dims[1]).ToArray());
                    var md = g.Op("Cast", [mean], Attr.Int("to", 11));
                    var vd = g.Op("Cast", [v], Attr.Int("to", 11));
                    return g.Op("BatchNormalization", ["x", "scale", "bias", md, vd], Attr.Float("epsilon", 1e-3f));
                },
                forwardRewrite: (b, s) => TrainingRewrite.Apply(b, s, new TrainingRewriteOptions()));
            Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "BatchNormalization" && n.DocString == TrainingRewrite.BatchNormMarker);
            // The backward pass reuses the forward's X - mean (one Sub of x) and folds its per-channel affine part into
            // a second, inference-form BatchNormalization.
            Assert.Single(r.GradModel.Graph.Node, n => n.OpType == "Sub" && n.Input[0] == "x");
            Assert.Equal(2, r.GradModel.Graph.Node.Count(n => n.OpType == "BatchNormalization"));
        }
    }

    [Fact]
    public void DropoutWithHostMaskAndInGraphMask()
    {
        var mask = Enumerable.Range(0, 12).Select(i => i % 3 != 0).ToArray();
        // Host mask: the mask input is fed by the harness through the fixed-mask hook.
        var r = Check(D, [new("x", [2, 6])], g => g.Op("Dropout", ["x", g.Scalar(0.25f, "ratio")]),
            forwardRewrite: (b, s) =>
            {
                var res = TrainingRewrite.Rewrite(b, s, new TrainingRewriteOptions());
                Assert.Single(res.DropoutMasks);
                Assert.Equal(0.25, res.DropoutMasks[0].Ratio, 6);
                Assert.Equal([-1L, 6], res.DropoutMasks[0].Dims);
            },
            boolInputs: name => mask);
        Assert.DoesNotContain(r.GradModel.Graph.Node, n => n.OpType == "Dropout");
    }
}
