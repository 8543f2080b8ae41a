using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using static Acwa.Onnx.Tests.Autodiff.GradCheck;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Autodiff;

public class ReverseModeTests
{
    private const ElementType D = ElementType.Double;
    private const ElementType F = ElementType.Float;

    [Theory]
    [InlineData(0, 0)]
    [InlineData(0, 1)]
    [InlineData(1, 0)]
    [InlineData(1, 1)]
    public void GemmAllTransposeCombinations(int transA, int transB)
    {
        long n = 3, k = 4, m = 5;
        Check(D,
            [new("a", transA == 0 ? [n, k] : [k, n], BatchAxis: transA), new("b", transB == 0 ? [k, m] : [m, k]), new("c", [m])],
            b => b.Op("Gemm", ["a", "b", "c"], Attr.Float("alpha", 0.7f), Attr.Float("beta", 1.3f), Attr.Int("transA", transA), Attr.Int("transB", transB)));
    }

    [Theory]
    [InlineData(new long[] { 3, 4 }, new long[] { 4, 5 })]
    [InlineData(new long[] { 2, 3, 4 }, new long[] { 4, 5 })]
    [InlineData(new long[] { 2, 1, 3, 4 }, new long[] { 2, 4, 5 })]
    [InlineData(new long[] { 2, 3, 4 }, new long[] { 4 })]
    [InlineData(new long[] { 4 }, new long[] { 2, 4, 5 })]
    public void MatMulBroadcasting(long[] a, long[] b)
    {
        GradInput[] inputs = a.Length >= b.Length ? [new("a", a), new("b", b)] : [new("b", b), new("a", a)];
        Check(D, inputs, g => g.Op("MatMul", ["a", "b"]));
    }

    [Fact]
    public void SharedWeightMatrixGradientIsOneGemmOverAllRows()
    {
        // A Linear layer over [N, L, K] tokens: dW = A[N L, K]^T dY[N L, n], no per-sample products summed afterwards.
        var r = Check(D, [new("a", [2, 3, 5, 4]), new("w", [4, 6])], g => g.Op("MatMul", ["a", "w"]));
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "Gemm" && n.GetInt("transA", 0) == 1);
        Assert.DoesNotContain(r.GradModel.Graph.Node, n => n.OpType == "ReduceSum");
    }

    [Theory]
    [InlineData("Add")]
    [InlineData("Sub")]
    [InlineData("Mul")]
    [InlineData("Div")]
    public void BinaryOpsWithBroadcasting(string op)
    {
        Check(D, [new("x", [2, 3, 4], Positive), new("y", [3, 1], Positive)], g => g.Op(op, ["x", "y"]));
        Check(D, [new("x", [2, 1, 4], Positive), new("y", [3, 4], Positive)], g => g.Op(op, ["x", "y"]));
        Check(D, [new("x", [2, 3], Positive), new("y", [], Positive)], g => g.Op(op, ["x", "y"]));
    }

    [Theory]
    [InlineData("Relu")]
    [InlineData("LeakyRelu")]
    [InlineData("Sigmoid")]
    [InlineData("Tanh")]
    [InlineData("Exp")]
    [InlineData("Neg")]
    [InlineData("Identity")]
    public void UnaryOps(string op) =>
        Check(D, [new("x", [3, 5], AwayFromZero)], g => g.Op(op, ["x"]));

    [Theory]
    [InlineData("Log")]
    [InlineData("Sqrt")]
    public void UnaryOpsOnPositiveInputs(string op) =>
        Check(D, [new("x", [3, 5], Positive)], g => g.Op(op, ["x"]));

    [Fact]
    public void ClipBothBoundsAndOneBound()
    {
        // values in [-1, 1] away from the bounds +-0.5 by at least 1e-3 (FD step 1e-6)
        static double Draw(Random r) { double v; do v = r.NextDouble() * 2 - 1; while (Math.Abs(Math.Abs(v) - 0.5) < 1e-3); return v; }
        var r1 = Check(D, [new("x", [4, 5], Draw)], g => g.Op("Clip", ["x", g.Initializer(Tensors.Double("lo", [], [-0.5])), g.Initializer(Tensors.Double("hi", [], [0.5]))]), samples: 20);
        Assert.Contains(r1.GradModel.Graph.Node, n => n.OpType == "Equal"); // mask X == Clip(X): one compare for both bounds
        Assert.DoesNotContain(r1.GradModel.Graph.Node, n => n.OpType is "And" or "GreaterOrEqual" or "LessOrEqual");
        Check(D, [new("x", [4, 5], Draw)], g => g.Op("Clip", ["x", "", g.Initializer(Tensors.Double("hi", [], [0.5]))]), samples: 20);
        Check(D, [new("x", [4, 5], Draw)], g => g.Op("Clip", ["x"]), samples: 20); // no bounds: identity
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("cuda")] // the CUDA form (Where) built and run on the CPU provider
    public void ClipPassesTheGradientAtTheBoundsLikePyTorchClamp(string device)
    {
        // clamp's backward: dY where min <= x <= max, so x exactly at a bound gets dY; outside gets 0.
        double[] x = [-0.5, 0.5, 0.7, -0.9, 0.0, 0.49];
        var g = GradAt(D, [new("x", [1, 6])], [x], b => b.Op("Clip", ["x", b.Initializer(Tensors.Double("lo", [], [-0.5])), b.Initializer(Tensors.Double("hi", [], [0.5]))]),
            new GradientOptions { Device = Device.Parse(device) });
        var full = GradAt(D, [new("x", [1, 6])], [x], b => b.Op("Identity", ["x"]), new GradientOptions());
        double[] inside = [1, 1, 0, 0, 1, 1];
        for (int i = 0; i < x.Length; i++) Assert.Equal(full[0][i] * inside[i], g[0][i], 12);
    }

    [Fact]
    public void FlattenAndReshapeKeepTheBatchDynamic()
    {
        Check(D, [new("x", [2, 3, 2, 2]), new("w", [12, 4])], g =>
        {
            var f = g.Op("Flatten", ["x"], Attr.Int("axis", 1));
            return g.Op("MatMul", [f, "w"]);
        });
        Check(D, [new("x", [3, 2, 6]), new("w", [3, 4])], g =>
        {
            var r = g.Op("Reshape", ["x", g.ConstInt64("shape", -1, 4, 3)]);
            return g.Op("MatMul", [r, "w"]);
        });
    }
}
