using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using static Acwa.Onnx.Tests.Autodiff.GradCheck;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Autodiff;

/// <summary>
/// Finite-difference checks of attribute and input combinations that the ONNX spec (opset 13-18) allows and that the
/// other gradient tests leave out (auto_pad variants, ceil_mode, 1-D operands, omitted inputs, negative axes and
/// indices, broadcasting on both sides, ...), and checks that the combinations the rules do not support are refused
/// with an error that names the node, the op and the attribute.
/// </summary>
public class AttributeCoverageGradTests
{
    private const ElementType D = ElementType.Double;
    private const ElementType F = ElementType.Float;

    /// <summary>
    /// Multiplies <paramref name="y"/> by the scalar sum of the anchor input "s" [2] (the harness makes the first
    /// input's dim 0 the batch): lets every dim of the op under test be fixed.
    /// </summary>
    private static string Anchored(GraphBuilder g, string y) =>
        g.Op("Mul", [y, g.Op("ReduceSum", ["s"], Attr.Int("keepdims", 0))]);

    private static GradInput Anchor => new("s", [2], Positive);

    private static string DoubleConst(GraphBuilder g, string name, long[] dims, params double[] values) =>
        g.Initializer(Tensors.Double(name, dims, values));

    // ---- Conv ----

    public static TheoryData<string, long[], long[], long[], long[], long[], long, string> ConvGeometries() => new()
    {
        // name, x dims, w dims, strides, dilations, pads, group, auto_pad
        { "same_lower k3 s1", [2, 2, 6, 5], [3, 2, 3, 3], [1, 1], [1, 1], [], 1, "SAME_LOWER" },
        { "same_lower k2 s1 (odd total pad)", [2, 2, 6, 5], [3, 2, 2, 2], [1, 1], [1, 1], [], 1, "SAME_LOWER" },
        { "same_lower k4 s2", [2, 2, 7, 6], [3, 2, 4, 4], [2, 2], [1, 1], [], 1, "SAME_LOWER" },
        { "same_upper k2 s1", [2, 2, 6, 5], [3, 2, 2, 2], [1, 1], [1, 1], [], 1, "SAME_UPPER" },
        { "same_upper k3 s2", [2, 2, 7, 8], [3, 2, 3, 3], [2, 2], [1, 1], [], 1, "SAME_UPPER" }, // (ORT's Conv has no SAME with dilation)
        { "valid s2", [2, 2, 7, 6], [3, 2, 3, 3], [2, 2], [1, 1], [], 1, "VALID" },
        { "non-square kernel, mixed strides/dilations, asym pads, groups 2", [2, 4, 7, 8], [4, 2, 2, 3], [2, 1], [1, 2], [1, 0, 0, 2], 2, "NOTSET" },
        { "dilation 2 stride 2 groups 2", [2, 4, 9, 8], [6, 2, 3, 3], [2, 2], [2, 2], [1, 1, 1, 1], 2, "NOTSET" },
        { "leftover rows: k3 s2 on 8x9", [2, 2, 8, 9], [3, 2, 3, 3], [2, 2], [1, 1], [0, 0, 0, 0], 1, "NOTSET" },
        { "stride above kernel: k2 s3 on 9x10", [2, 2, 9, 10], [3, 2, 2, 2], [3, 3], [1, 1], [0, 0, 0, 0], 1, "NOTSET" },
        { "1x1 kernel stride 2 padded", [2, 3, 5, 6], [4, 3, 1, 1], [2, 2], [1, 1], [1, 0, 0, 1], 1, "NOTSET" },
        { "depthwise same_lower s2", [2, 3, 7, 6], [3, 1, 3, 3], [2, 2], [1, 1], [], 3, "SAME_LOWER" },
    };

    private static void ConvGeometryCase(long[] x, long[] w, long[] strides, long[] dilations, long[] pads, long group, string autoPad, GradientOptions options)
    {
        var attrs = new List<AttributeProto> { Attr.Ints("strides", strides), Attr.Ints("dilations", dilations), Attr.Int("group", group) };
        if (autoPad == "NOTSET") attrs.Add(Attr.Ints("pads", pads)); else attrs.Add(Attr.String("auto_pad", autoPad));
        Check(F, [new("x", x), new("w", w), new("b", [w[0]])], g => g.Op("Conv", ["x", "w", "b"], attrs.ToArray()), options: options, samples: 10);
    }

    [Theory]
    [MemberData(nameof(ConvGeometries))]
    public void ConvGeometryWithEveryGradientMethod(string name, long[] x, long[] w, long[] strides, long[] dilations, long[] pads, long group, string autoPad)
    {
        _ = name;
        ConvGeometryCase(x, w, strides, dilations, pads, group, autoPad, new GradientOptions());
        ConvGeometryCase(x, w, strides, dilations, pads, group, autoPad, new GradientOptions { ConvInputGrad = ConvInputGradMethod.FlippedConv, ConvWeightGrad = ConvWeightGradMethod.TapsGemm });
        ConvGeometryCase(x, w, strides, dilations, pads, group, autoPad, new GradientOptions { ConvInputGrad = ConvInputGradMethod.ConvTranspose, ConvWeightGrad = ConvWeightGradMethod.SlicedPatchesMatMul });
        ConvGeometryCase(x, w, strides, dilations, pads, group, autoPad, new GradientOptions { ConvInputGrad = ConvInputGradMethod.DepthwiseDense, ConvWeightGrad = ConvWeightGradMethod.DepthwiseDense });
        if (group == 1)
        {
            ConvGeometryCase(x, w, strides, dilations, pads, group, autoPad, new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.ConvOverTransposed });
            ConvGeometryCase(x, w, strides, dilations, pads, group, autoPad, new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.PerTapGemm });
        }
        ConvGeometryCase(x, w, strides, dilations, pads, group, autoPad, new GradientOptions { Device = Device.Cuda() });
    }

    [Fact]
    public void ConvOverOneOrThreeSpatialAxesIsRefusedByName()
    {
        // Conv1d ([N, C, L]) and Conv3d: not supported by the 2-D rules; the error names the node and what is supported
        // (Conv1d used to index past the weight's dims: IndexOutOfRangeException). Compiled training graphs lower 1-D
        // nodes to 2-D first (Conv1dLowering, Conv1dLoweringTests).
        foreach (var (x, w) in new[] { (new long[] { 2, 3, 7 }, new long[] { 4, 3, 3 }), ([2, 3, 4, 4, 4], [4, 3, 2, 2, 2]) })
        {
            var ex = Assert.Throws<NotSupportedException>(() =>
                Check(F, [new("x", x), new("w", w), new("b", [4])], g => g.Op("Conv", ["x", "w", "b"])));
            Assert.Contains("Conv", ex.Message);
            Assert.Contains("2-D", ex.Message);
        }
    }

    [Fact]
    public void ConvTransposeHasNoRuleAndIsRefusedByName()
    {
        var ex = Assert.Throws<NotSupportedException>(() =>
            Check(F, [new("x", [2, 3, 4, 4]), new("w", [3, 2, 3, 3])], g => g.Op("ConvTranspose", ["x", "w"], Attr.Ints("strides", 2, 2))));
        Assert.Contains("ConvTranspose", ex.Message);
        Assert.Contains("no gradient rule", ex.Message);
    }

    // ---- MaxPool ----

    [Theory]
    [InlineData("ceil k2 s2 7x7", new long[] { 2, 2 }, new long[] { 2, 2 }, new long[] { 1, 1 }, new long[] { 0, 0, 0, 0 }, 1, "NOTSET")]
    [InlineData("ceil k3 s2 pad1 8x7", new long[] { 3, 3 }, new long[] { 2, 2 }, new long[] { 1, 1 }, new long[] { 1, 1, 1, 1 }, 1, "NOTSET")]
    [InlineData("dilation 2", new long[] { 2, 2 }, new long[] { 1, 1 }, new long[] { 2, 2 }, new long[] { 0, 0, 0, 0 }, 0, "NOTSET")]
    [InlineData("dilation 2 stride 2 ceil", new long[] { 2, 3 }, new long[] { 2, 2 }, new long[] { 2, 1 }, new long[] { 0, 1, 0, 1 }, 1, "NOTSET")]
    [InlineData("same_upper k3 s2", new long[] { 3, 3 }, new long[] { 2, 2 }, new long[] { 1, 1 }, null, 0, "SAME_UPPER")]
    [InlineData("same_lower k2 s1", new long[] { 2, 2 }, new long[] { 1, 1 }, new long[] { 1, 1 }, null, 0, "SAME_LOWER")]
    [InlineData("valid k2 s2 on odd sizes", new long[] { 2, 2 }, new long[] { 2, 2 }, new long[] { 1, 1 }, null, 0, "VALID")]
    [InlineData("asym pads, non-square", new long[] { 3, 2 }, new long[] { 2, 1 }, new long[] { 1, 1 }, new long[] { 0, 1, 2, 0 }, 0, "NOTSET")]
    public void MaxPoolAttributeCombinations(string name, long[] k, long[] s, long[] d, long[]? pads, long ceil, string autoPad)
    {
        _ = name;
        var attrs = new List<AttributeProto> { Attr.Ints("kernel_shape", k), Attr.Ints("strides", s), Attr.Ints("dilations", d), Attr.Int("ceil_mode", ceil) };
        if (pads is not null) attrs.Add(Attr.Ints("pads", pads));
        if (autoPad != "NOTSET") attrs.Add(Attr.String("auto_pad", autoPad));
        foreach (var options in new[] { new GradientOptions(), new GradientOptions { MaxPoolGrad = MaxPoolGradMethod.IndicesScatter }, new GradientOptions { Device = Device.Cuda() } })
            Check(F, [new("x", [2, 3, 7, 7])], g => g.Op("MaxPool", ["x"], attrs.ToArray()), options: options, step: 1e-3, samples: 30);
    }

    [Fact]
    public void MaxPoolOverOneSpatialAxis() =>
        Check(F, [new("x", [2, 3, 9])], g => g.Op("MaxPool", ["x"], Attr.Ints("kernel_shape", 3), Attr.Ints("strides", 2), Attr.Ints("pads", 1, 1)),
            step: 1e-3, samples: 30);

    [Fact]
    public void MaxPoolWithStorageOrderOneIsRefusedByName()
    {
        var ex = Assert.Throws<NotSupportedException>(() =>
            Check(F, [new("x", [2, 3, 4, 4])], g => g.Op("MaxPool", ["x"], Attr.Ints("kernel_shape", 2, 2), Attr.Int("storage_order", 1))));
        Assert.Contains("MaxPool", ex.Message);
        Assert.Contains("storage_order", ex.Message);
    }

    // ---- AveragePool ----

    [Theory]
    [InlineData("same_upper k3 s2", new long[] { 3, 3 }, new long[] { 2, 2 }, null, 0, "SAME_UPPER")]
    [InlineData("same_upper k3 s2 include pad", new long[] { 3, 3 }, new long[] { 2, 2 }, null, 1, "SAME_UPPER")]
    [InlineData("same_lower k2 s1", new long[] { 2, 2 }, new long[] { 1, 1 }, null, 0, "SAME_LOWER")]
    [InlineData("same_lower k2 s1 include pad", new long[] { 2, 2 }, new long[] { 1, 1 }, null, 1, "SAME_LOWER")]
    [InlineData("valid k2 s2 on odd sizes", new long[] { 2, 2 }, new long[] { 2, 2 }, null, 0, "VALID")]
    [InlineData("non-square, asym pads", new long[] { 2, 3 }, new long[] { 1, 2 }, new long[] { 1, 0, 0, 2 }, 0, "NOTSET")]
    [InlineData("non-square, asym pads, include pad", new long[] { 2, 3 }, new long[] { 1, 2 }, new long[] { 1, 0, 0, 2 }, 1, "NOTSET")]
    [InlineData("stride above kernel", new long[] { 2, 2 }, new long[] { 3, 3 }, new long[] { 0, 0, 0, 0 }, 0, "NOTSET")]
    public void AveragePoolAttributeCombinations(string name, long[] k, long[] s, long[]? pads, long includePad, string autoPad)
    {
        _ = name;
        var attrs = new List<AttributeProto> { Attr.Ints("kernel_shape", k), Attr.Ints("strides", s), Attr.Int("count_include_pad", includePad) };
        if (pads is not null) attrs.Add(Attr.Ints("pads", pads));
        if (autoPad != "NOTSET") attrs.Add(Attr.String("auto_pad", autoPad));
        foreach (var method in new[] { ConvInputGradMethod.Auto, ConvInputGradMethod.FlippedConv, ConvInputGradMethod.ConvTranspose })
            Check(F, [new("x", [2, 3, 7, 8])], g => g.Op("AveragePool", ["x"], attrs.ToArray()), options: new GradientOptions { ConvInputGrad = method }, samples: 20);
    }

    [Fact]
    public void AveragePoolOverOneSpatialAxisIsRefusedByName()
    {
        // (used to index past kernel_shape: IndexOutOfRangeException)
        var ex = Assert.Throws<NotSupportedException>(() =>
            Check(F, [new("x", [2, 3, 7])], g => g.Op("AveragePool", ["x"], Attr.Ints("kernel_shape", 3), Attr.Ints("strides", 2))));
        Assert.Contains("AveragePool", ex.Message);
        Assert.Contains("2-D", ex.Message);
    }

    [Fact]
    public void GlobalPoolsOverOneSpatialAxis()
    {
        Check(F, [new("x", [2, 3, 5])], g => g.Op("GlobalAveragePool", ["x"]));
        Check(F, [new("x", [2, 3, 5])], g => g.Op("GlobalMaxPool", ["x"]), step: 1e-3);
    }

    // ---- Gemm / MatMul ----

    [Theory]
    [InlineData(new long[] { 5 })]
    [InlineData(new long[] { 1 })]
    [InlineData(new long[] { })]
    [InlineData(new long[] { 3, 1 })]
    [InlineData(new long[] { 1, 5 })]
    [InlineData(new long[] { 3, 5 })]
    public void GemmBiasShapes(long[] cDims)
    {
        foreach (var (ta, tb) in new[] { (0L, 0L), (1L, 1L) })
            Check(D, [Anchor, new("a", ta == 0 ? [3, 4] : [4, 3]), new("b", tb == 0 ? [4, 5] : [5, 4]), new("c", cDims)],
                g => Anchored(g, g.Op("Gemm", ["a", "b", "c"], Attr.Float("alpha", -0.6f), Attr.Float("beta", 2.5f), Attr.Int("transA", ta), Attr.Int("transB", tb))));
    }

    [Fact]
    public void GemmWithoutC() =>
        Check(D, [new("a", [3, 4]), new("b", [5, 4])], g => g.Op("Gemm", ["a", "b"], Attr.Float("alpha", 1.7f), Attr.Int("transB", 1)));

    [Theory]
    [InlineData(new long[] { 4 }, new long[] { 4 })]
    [InlineData(new long[] { 4 }, new long[] { 4, 5 })]
    [InlineData(new long[] { 3, 4 }, new long[] { 4 })]
    [InlineData(new long[] { 2, 3, 3, 4 }, new long[] { 4 })]
    [InlineData(new long[] { 4 }, new long[] { 2, 3, 4, 5 })]
    [InlineData(new long[] { 2, 1, 3, 4 }, new long[] { 1, 3, 4, 2 })]
    [InlineData(new long[] { 3, 4 }, new long[] { 2, 4, 5 })]
    [InlineData(new long[] { 1, 3, 4 }, new long[] { 2, 4, 5 })]
    [InlineData(new long[] { 2, 3, 4 }, new long[] { 2, 4, 5 })]
    public void MatMulOneDimensionalAndBroadcastOperands(long[] a, long[] b) =>
        Check(D, [Anchor, new("a", a), new("b", b)], g => Anchored(g, g.Op("MatMul", ["a", "b"])));

    // ---- Softmax family ----

    [Theory]
    [InlineData("Softmax", 0)]
    [InlineData("Softmax", -2)]
    [InlineData("Softmax", 2)]
    [InlineData("LogSoftmax", 0)]
    [InlineData("LogSoftmax", -3)]
    [InlineData("LogSoftmax", 2)]
    public void SoftmaxOnAnyAxis(string op, long axis) =>
        Check(D, [Anchor, new("x", [2, 3, 4, 2])], g => Anchored(g, g.Op(op, ["x"], Attr.Int("axis", axis))));

    [Fact]
    public void SoftmaxDefaultAxisIsTheLast() =>
        Check(D, [new("x", [2, 3, 4])], g => g.Op("Mul", [g.Op("Softmax", ["x"]), g.Op("LogSoftmax", ["x"])]));

    // ---- shape ops ----

    [Theory]
    [InlineData(0L)]
    [InlineData(2L)]
    [InlineData(-1L)]
    [InlineData(-3L)]
    public void FlattenAxes(long axis) =>
        Check(D, [Anchor, new("x", [2, 3, 4])], g => Anchored(g, g.Op("Mul", [g.Op("Flatten", ["x"], Attr.Int("axis", axis)), g.Op("Flatten", ["x"], Attr.Int("axis", axis))])));

    [Fact]
    public void ReshapeWithCopiedAndInferredDims()
    {
        Check(D, [new("x", [2, 3, 4])], g => g.Op("Mul", [g.Op("Reshape", ["x", g.ConstInt64("shape", 0, -1, 2)]), g.Op("Reshape", ["x", g.ConstInt64("shape2", 0, 6, 2)])]));
        // allowzero 1 (no zero in the shape, so the same result as 0)
        Check(D, [Anchor, new("x", [2, 3, 4])], g => Anchored(g, g.Op("Reshape", ["x", g.ConstInt64("shape", 4, -1, 3)], Attr.Int("allowzero", 1))));
    }

    [Fact]
    public void TransposeWithoutPermReversesTheAxes() =>
        Check(D, [Anchor, new("x", [2, 3, 4])], g => Anchored(g, g.Op("Mul", [g.Op("Transpose", ["x"]), DoubleConst(g, "w", [4, 3, 2], Enumerable.Range(0, 24).Select(i => i * 0.1).ToArray())])));

    [Fact]
    public void SqueezeWithoutAxesAndUnsqueezeWithNegativeAxes()
    {
        Check(D, [Anchor, new("x", [2, 1, 3, 1])], g => Anchored(g, g.Op("Squeeze", ["x"])));
        Check(D, [new("x", [2, 3])], g => g.Op("Unsqueeze", ["x", g.ConstInt64("axes", -1, 1)]));
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(-2L)]
    public void ConcatNegativeAxis(long axis) =>
        Check(D, [new("x", [2, 3, 2]), new("y", [3, 2])], g => g.Op("Concat", ["x", g.Op("Mul", ["x", "y"]), "x"], Attr.Int("axis", axis)));

    [Theory]
    [InlineData(new long[] { -3, 1 }, new long[] { 100, -1 }, null, null)]                      // omitted axes, negative starts/ends, end past the end
    [InlineData(new long[] { 1 }, new long[] { long.MaxValue }, new long[] { -1 }, new long[] { 3 })]   // INT64_MAX end, step 3, negative axis
    [InlineData(new long[] { 0, -1 }, new long[] { 7, -100 }, new long[] { 1, 2 }, new long[] { 2, -2 })] // step 2 (leftover) and -2
    [InlineData(new long[] { 6, 5 }, new long[] { 0, long.MinValue }, new long[] { -2, -1 }, new long[] { -3, -4 })] // steps -3 / -4
    [InlineData(new long[] { 10, 2 }, new long[] { -10, 3 }, new long[] { 1, 2 }, new long[] { -1, 5 })] // clamped start, step past the dim
    [InlineData(new long[] { 1, 0, 1 }, new long[] { 3, 6, 5 }, new long[] { 0, 1, 2 }, new long[] { 1, 4, 3 })] // three axes, two strided
    [InlineData(new long[] { -1, -1 }, new long[] { long.MinValue, long.MinValue }, new long[] { 1, 2 }, new long[] { -1, -1 })] // flip two axes
    public void SliceAttributeCombinations(long[] starts, long[] ends, long[]? axes, long[]? steps)
    {
        // CPU graphs spread a strided last axis by a MatMul, CUDA graphs by Reshape/Pad.
        foreach (var device in new[] { "cpu", "cuda" })
            Check(D, [Anchor, new("x", [3, 6, 5])], g =>
            {
                var inputs = new List<string> { "x", g.ConstInt64("st", starts), g.ConstInt64("en", ends) };
                if (axes is not null) inputs.Add(g.ConstInt64("ax", axes));
                if (steps is not null) inputs.Add(g.ConstInt64("sp", steps));
                return Anchored(g, g.Op("Slice", inputs));
            }, options: new GradientOptions { Device = Device.Parse(device) });
    }

    [Fact]
    public void SliceOnTheBatchAxisWithStrides()
    {
        // The batch axis is not sliced, the fixed axes after it are, with the batch dim left to Reshape.
        Check(D, [new("x", [3, 6, 5])], g => g.Op("Slice", ["x", g.ConstInt64("st", 1, 4), g.ConstInt64("en", 6, 0), g.ConstInt64("ax", 1, 2), g.ConstInt64("sp", 2, -2)]));
    }

    [Theory]
    [InlineData(2L)]
    [InlineData(-2L)]
    [InlineData(3L)]
    public void StridedSliceInFrontOfTwoBatchDependentAxes(long step)
    {
        // m = x[:, :1] x[:, :1]^T is [N, N]; Slice of [6, N, N] along axis 0 with a step: the Reshape shapes behind the
        // spread axis would need two -1 dims, so the gradient takes the ScatterElements form.
        var r = Check(D, [new("x", [3, 2])], g =>
        {
            var a = g.Op("Slice", ["x", g.ConstInt64("s0", 0), g.ConstInt64("e0", 1), g.ConstInt64("a0", 1)]);
            var m = g.Op("Mul", [a, g.Op("Transpose", [a], Attr.Ints("perm", 1, 0))]);
            var m3 = g.Op("Mul", [g.Op("Unsqueeze", [m, g.ConstInt64("u", 0)]), DoubleConst(g, "w", [6, 1, 1], 1, -2, 3, 0.5, -1, 2)]);
            var st = step > 0 ? g.ConstInt64("st", 1) : g.ConstInt64("st", 4);
            var en = step > 0 ? g.ConstInt64("en", 6) : g.ConstInt64("en", -100);
            return g.Op("Slice", [m3, st, en, g.ConstInt64("ax", 0), g.ConstInt64("sp", step)]);
        });
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "ScatterElements");
    }

    [Theory]
    [InlineData(new long[] { 1, 0, 2, 1 }, new long[] { 2, 1, 1, 0 })]
    [InlineData(new long[] { 2, 1, 0, 0 }, new long[] { 0, 0, 2, 1 })]
    public void PadAlongTheBatchAxis(long[] pads1, long[] pads2)
    {
        // Both pads make [N + 3, 4]; summing the product of the two over the padded axis pairs rows that the pads place
        // differently, so the gradient depends on where each pad puts X. (The harness feeds dY with batch-sized dims,
        // so the padded axis is reduced away.)
        Check(D, [new("x", [2, 3])], g => g.Op("ReduceSum",
            [g.Op("Mul", [g.Op("Pad", ["x", g.ConstInt64("p1", pads1)]), g.Op("Pad", ["x", g.ConstInt64("p2", pads2)])]), g.ConstInt64("ax", 0)]));
        // opset 18 axes input: the batch axis only
        Check(D, [new("x", [2, 3])], g => g.Op("ReduceSum",
            [g.Op("Mul", [g.Op("Pad", ["x", g.ConstInt64("p1", pads1[0], pads1[2]), "", g.ConstInt64("a1", 0)]),
                          g.Op("Pad", ["x", g.ConstInt64("p2", pads2[0], pads2[2]), "", g.ConstInt64("a2", -2)])]), g.ConstInt64("ax", 0)]));
    }

    [Fact]
    public void ExpandAndWhereWithABatchDependentOutput()
    {
        // w [3] broadcast against x [N, 3] by Expand to Shape(x), and Where with a batch-shaped condition.
        Check(D, [new("x", [2, 3]), new("w", [1, 3])], g => g.Op("Mul", ["x", g.Op("Expand", ["w", g.Op("Shape", ["x"])])]));
        Check(D, [new("x", [2, 3]), new("w", [3]), new("v", [])], g => g.Op("Where", [g.Op("Greater", ["x", DoubleConst(g, "z", [], 0)]), "w", "v"]));
    }

    [Fact]
    public void SplitWithNumOutputsUneven()
    {
        // opset 18 num_outputs 3 over 7: 3, 3, 1
        var r = Check(D, [new("x", [2, 7])], g =>
        {
            var p = g.OpMulti("Split", ["x"], 3, Attr.Int("axis", -1), Attr.Int("num_outputs", 3));
            return g.Op("Concat", [g.Op("Mul", [p[0], p[1]]), g.Op("Mul", [p[2], p[2]])], Attr.Int("axis", 1));
        });
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "Split" && n.GetInt("num_outputs", 0) == 3);
        // a split input with a negative axis
        Check(D, [new("x", [2, 5, 3])], g =>
        {
            var p = g.OpMulti("Split", ["x", g.ConstInt64("sizes", 1, 4)], 2, Attr.Int("axis", -2));
            return g.Op("Mul", [p[0], g.Op("ReduceSum", [p[1], g.ConstInt64("ax", 1)], Attr.Int("keepdims", 1))]);
        });
    }

    // ---- reductions ----

    [Theory]
    [InlineData("ReduceSum")]
    [InlineData("ReduceMean")]
    [InlineData("ReduceMax")]
    [InlineData("ReduceMin")]
    public void ReductionAxesForms(string op)
    {
        foreach (var device in new[] { "cpu", "cuda" }) ReductionAxesFormsOn(op, new GradientOptions { Device = Device.Parse(device) });
    }

    private static void ReductionAxesFormsOn(string op, GradientOptions o)
    {
        // negative axes, keepdims 0
        Check(D, [new("x", [2, 3, 4])], g => g.Op(op, ["x", g.ConstInt64("axes", -1, -2)], Attr.Int("keepdims", 0)), options: o);
        // no axes: all axes (keepdims 0 and 1)
        Check(D, [new("x", [2, 3, 4])], g => g.Op(op, ["x"], Attr.Int("keepdims", 0)), options: o);
        Check(D, [new("x", [2, 3, 4])], g => g.Op(op, ["x"]), options: o);
        // an empty axes input: all axes unless noop_with_empty_axes
        Check(D, [new("x", [2, 3, 4])], g => g.Op(op, ["x", g.Initializer(Tensors.Int64("none", [0], []))], Attr.Int("keepdims", 0)), options: o);
        Check(D, [new("x", [2, 3, 4])], g => g.Op(op, ["x", g.Initializer(Tensors.Int64("none", [0], []))], Attr.Int("noop_with_empty_axes", 1)), options: o);
        Check(D, [new("x", [2, 3, 4])], g => g.Op(op, ["x"], Attr.Int("noop_with_empty_axes", 1), Attr.Int("keepdims", 0)), options: o);
    }

    // ---- Gather / Expand / Pad ----

    [Fact]
    public void GatherNegativeAxisAndIndices()
    {
        Check(D, [new("x", [2, 3, 4])], g => g.Op("Gather", ["x", g.Initializer(Tensors.Int64("i", [], [-2]))], Attr.Int("axis", -1)));
        // axis 0 with 2-D indices including negative ones, on a fixed-size table
        Check(D, [Anchor, new("w", [4, 3])], g => Anchored(g, g.Op("Gather", ["w", g.Initializer(Tensors.Int64("ids", [2, 3], [0, -1, 2, -4, 3, 3]))])));
        // a scalar index on axis 0 (not constant-foldable: computed by ops)
        Check(D, [Anchor, new("w", [4, 3])], g => Anchored(g, g.Op("Gather", ["w", g.Op("Squeeze", [g.ConstInt64("one", -3)])])));
    }

    [Fact]
    public void GathersThatTileAnAxisWhereOnePieceGradientIsSharedWithAnotherInput()
    {
        // y = qkv + z; q = y[0], k = qkv[1], v = qkv[2]: qkv's three contributions are zero Pads that tile axis 0 (made
        // a Concat), but the Pad of q's gradient reaches qkv through the Add, which sends the same value to z as well.
        Check(D, [new("qkv", [3, 2, 4], BatchAxis: 1), new("z", [3, 1, 4])], g =>
        {
            var y = g.Op("Add", ["qkv", "z"]);
            string Pick(string from, long i, string name) => g.Op("Gather", [from, g.Initializer(Tensors.Int64(name, [], [i]))], Attr.Int("axis", 0));
            var q = Pick(y, 0, "i0"); var k = Pick("qkv", 1, "i1"); var v = Pick("qkv", 2, "i2");
            return g.Op("Add", [g.Op("Mul", [q, k]), v]);
        });
        // The same with the other Add input of qkv's shape: the shared Pad is another value's whole gradient.
        Check(D, [new("qkv", [3, 2, 4], BatchAxis: 1)], g =>
        {
            var y = g.Op("Add", ["qkv", g.Op("Tanh", ["qkv"])]);
            string Pick(string from, long i, string name) => g.Op("Gather", [from, g.Initializer(Tensors.Int64(name, [], [i]))], Attr.Int("axis", 0));
            var q = Pick(y, 0, "i0"); var k = Pick("qkv", 1, "i1"); var v = Pick("qkv", 2, "i2");
            return g.Op("Add", [g.Op("Mul", [q, k]), v]);
        });
    }

    /// <summary>
    /// An int64 scalar computed from float data: 1 when sum(v) &gt; 1000, else 0. The shape probe's inputs lie in [-1, 1),
    /// so it sees 0 at both batch sizes; the test feeds v = [600, 600], so the value is 1.
    /// </summary>
    private static string DataDependentIndex(GraphBuilder g) =>
        g.Op("Cast", [g.Op("Greater", [g.Op("ReduceSum", ["v"], Attr.Int("keepdims", 0)), DoubleConst(g, "thousand", [], 1000)])], Attr.Int("to", 7));

    [Fact]
    public void GatherWithADataDependentScalarIndexIsNotTakenForAConstant()
    {
        // Gather(w, idx) on axis 0: the index must not be read as the probe's value (0); the gradient goes to row 1.
        Check(D, [new("x", [2, 3]), new("w", [4, 3]), new("v", [2], Values: [600, 600])],
            g => g.Op("Mul", ["x", g.Op("Gather", ["w", DataDependentIndex(g)])]), wrt: ["x", "w"]);
        // On another axis too: the general rule (a scatter at the run-time index), not a Pad at the probe's position.
        Check(D, [new("x", [2, 3]), new("v", [2], Values: [600, 600])], g => g.Op("Gather", ["x", DataDependentIndex(g)], Attr.Int("axis", 1)), wrt: ["x"]);
        // Slice starts computed from data: refused by name instead of read as the probe's value.
        var ex = Assert.Throws<NotSupportedException>(() =>
            Check(D, [new("x", [2, 3]), new("v", [2], Values: [600, 600])], g => g.Op("Slice",
                ["x", g.Op("Unsqueeze", [DataDependentIndex(g), g.ConstInt64("u", 0)]), g.ConstInt64("e", 3), g.ConstInt64("a", 1)]), wrt: ["x"]));
        Assert.Contains("Slice starts must be constant", ex.Message);
        // An index computed from a float initializer (a parameter: ArgMax of architecture weights) changes in training:
        // not a constant either, so Gather on axis 1 takes the general rule (no Pad at the probe's position).
        var r = Check(D, [new("x", [2, 4])], g => g.Op("Gather",
            ["x", g.Op("ArgMax", [DoubleConst(g, "alpha", [4], 0.1, 0.7, 0.2, 0.3)], Attr.Int("keepdims", 0))], Attr.Int("axis", 1)));
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "ScatterElements");
        Assert.DoesNotContain(r.GradModel.Graph.Node, n => n.OpType == "Pad");
    }

    [Fact]
    public void ExpandToHigherRankAndWithOnesInTheShape()
    {
        Check(D, [Anchor, new("x", [3, 1])], g => Anchored(g, g.Op("Expand", ["x", g.ConstInt64("shape", 2, 1, 4)])));
        Check(D, [Anchor, new("x", [2, 1, 3])], g => Anchored(g, g.Op("Expand", ["x", g.ConstInt64("shape", 1, 4, 1)])));
    }

    [Fact]
    public void PadConstantModeWithValueAndNegativeAxes()
    {
        Check(D, [Anchor, new("x", [2, 3, 4])], g => Anchored(g, g.Op("Pad", ["x", g.ConstInt64("pads", 1, 0, 2, 0, 1, 1), DoubleConst(g, "v", [], 0.7)], Attr.String("mode", "constant"))));
        Check(D, [Anchor, new("x", [2, 3, 4])], g => Anchored(g, g.Op("Pad", ["x", g.ConstInt64("pads", 2, 0, 1, 3), "", g.ConstInt64("axes", -3, -1)])));
    }

    [Theory]
    [InlineData("reflect")]
    [InlineData("edge")]
    [InlineData("wrap")]
    public void PadModesOtherThanConstantAreRefusedByName(string mode)
    {
        var ex = Assert.Throws<NotSupportedException>(() =>
            Check(D, [new("x", [2, 3, 4])], g => g.Op("Pad", ["x", g.ConstInt64("pads", 0, 0, 1, 0, 0, 2)], Attr.String("mode", mode))));
        Assert.Contains("Pad", ex.Message);
        Assert.Contains("mode", ex.Message);
    }

    [Fact]
    public void NegativePadsAreRefusedByName()
    {
        var ex = Assert.Throws<NotSupportedException>(() =>
            Check(D, [new("x", [2, 3, 4])], g => g.Op("Pad", ["x", g.ConstInt64("pads", 0, 0, -1, 0, 1, 0)])));
        Assert.Contains("Pad", ex.Message);
        Assert.Contains("negative", ex.Message);
    }

    // ---- elementwise ----

    [Theory]
    [InlineData("Add")]
    [InlineData("Sub")]
    [InlineData("Mul")]
    [InlineData("Div")]
    [InlineData("Pow")]
    public void BinaryOpsBroadcastingOnBothSides(string op)
    {
        Check(D, [Anchor, new("x", [3, 1], Positive), new("y", [1, 4], Positive)], g => Anchored(g, g.Op(op, ["x", "y"])));
        Check(D, [Anchor, new("x", [4], Positive), new("y", [2, 3, 1], Positive)], g => Anchored(g, g.Op(op, ["x", "y"])));
        Check(D, [Anchor, new("x", [], Positive), new("y", [2, 3], Positive)], g => Anchored(g, g.Op(op, ["x", "y"])));
    }

    [Fact]
    public void SumWithBroadcasting() =>
        Check(D, [new("x", [2, 3]), new("y", [3]), new("z", [1, 1])], g => g.Op("Mul", [g.Op("Sum", ["x", "y", "z"]), "x"]));

    [Fact]
    public void WhereBroadcastsConditionAndBothBranches() =>
        Check(D, [Anchor, new("a", [4]), new("b", [])], g =>
        {
            var cond = g.Op("Greater", [DoubleConst(g, "c", [2, 3, 1], 0.1, -0.2, 0.3, -0.4, 0.5, 0.6), DoubleConst(g, "z", [], 0)]);
            return Anchored(g, g.Op("Where", [cond, "a", "b"]));
        });

    [Fact]
    public void ClipWithOnlyAMinimum()
    {
        static double Draw(Random r) { while (true) { var v = r.NextDouble() * 2 - 1; if (Math.Abs(v + 0.3) > 0.05) return v; } }
        Check(D, [new("x", [4, 5], Draw)], g => g.Op("Clip", ["x", DoubleConst(g, "lo", [], -0.3)]), samples: 20);
    }

    [Fact]
    public void ClipWithTrainableBounds()
    {
        foreach (var device in new[] { "cpu", "cuda" }) ClipWithTrainableBoundsOn(new GradientOptions { Device = Device.Parse(device) });
    }

    private static void ClipWithTrainableBoundsOn(GradientOptions options)
    {
        // A learned clipping threshold (torch.clamp(x, max=alpha) with a scalar parameter alpha, as in PACT): the bounds
        // get dY summed over the elements they clip.
        static double Draw(Random r) { while (true) { var v = r.NextDouble() * 2 - 1; if (Math.Abs(v + 0.3) > 0.05 && Math.Abs(v - 0.4) > 0.05) return v; } }
        Check(D, [new("x", [4, 5], Draw), new("lo", [], Values: [-0.3]), new("hi", [], Values: [0.4])], g => g.Op("Clip", ["x", "lo", "hi"]), options: options, samples: 20);
        Check(D, [new("x", [4, 5], Draw), new("hi", [], Values: [0.4])], g => g.Op("Clip", ["x", "", "hi"]), options: options, samples: 20);
        Check(D, [new("x", [4, 5], Draw), new("lo", [], Values: [-0.3])], g => g.Op("Clip", ["x", "lo"]), options: options, samples: 20);
    }

    [Fact]
    public void PadWithATrainableConstantValue()
    {
        Check(D, [new("x", [2, 3]), new("v", [])], g => g.Op("Pad", ["x", g.ConstInt64("pads", 0, 1, 0, 2), "v"]));
        Check(D, [new("x", [2, 3]), new("v", [])], g => g.Op("Pad", ["x", g.ConstInt64("pads", 0, 0, 0, 0), "v"]));
    }

    [Theory]
    [InlineData("LeakyRelu", 0.2, null)]
    [InlineData("LeakyRelu", 1.5, null)]
    [InlineData("Elu", 2.0, null)]
    [InlineData("HardSigmoid", 0.3, 0.2)]
    public void ActivationsWithNonDefaultAttributes(string op, double alpha, double? beta)
    {
        var attrs = new List<AttributeProto> { Attr.Float("alpha", (float)alpha) };
        if (beta is { } b) attrs.Add(Attr.Float("beta", (float)b));
        if (op == "HardSigmoid")
        {
            // kinks at (0 - 0.2) / 0.3 and (1 - 0.2) / 0.3
            static double Draw(Random r) { while (true) { var v = r.NextDouble() * 8 - 4; if (Math.Abs(v + 2.0 / 3) > 0.1 && Math.Abs(v - 8.0 / 3) > 0.1) return v; } }
            Check(F, [new("x", [4, 6], Draw)], g => g.Op(op, ["x"], attrs.ToArray()), step: 1e-3, samples: 24);
        }
        else Check(D, [new("x", [3, 5], AwayFromZero)], g => g.Op(op, ["x"], attrs.ToArray()));
    }

    [Fact]
    public void PReluWithScalarAndTrailingSlopes()
    {
        Check(F, [new("x", [2, 3, 2, 4], AwayFromZero), new("slope", [1])], g => g.Op("PRelu", ["x", "slope"]), step: 1e-3, samples: 16);
        Check(F, [new("x", [2, 3, 2, 4], AwayFromZero), new("slope", [4])], g => g.Op("PRelu", ["x", "slope"]), step: 1e-3, samples: 16);
    }

    // ---- normalisation ----

    [Theory]
    [InlineData(new long[] { 3, 2 })]
    [InlineData(new long[] { 3, 2, 4 })]
    public void BatchNormalizationOnTwoAndThreeDimensionalInputs(long[] dims)
    {
        long ch = dims[1];
        string Stats(GraphBuilder g, string name, double v) => g.Op("Cast", [g.ConstFloat(name, [ch], Enumerable.Repeat((float)v, (int)ch).ToArray())], Attr.Int("to", 11));
        // inference form
        Check(D, [new("x", dims), new("scale", [ch]), new("bias", [ch]), new("mean", [ch]), new("var", [ch], Positive)],
            g => g.Op("BatchNormalization", ["x", "scale", "bias", "mean", "var"], Attr.Float("epsilon", 1e-3f)),
            wrt: ["x", "scale", "bias"]);
        // training form (after TrainingRewrite)
        var r = Check(D, [new("x", dims), new("scale", [ch], Positive), new("bias", [ch])],
            g => g.Op("BatchNormalization", ["x", "scale", "bias", Stats(g, "rm", 0), Stats(g, "rv", 1)], Attr.Float("epsilon", 1e-3f)),
            forwardRewrite: (b, s) => TrainingRewrite.Apply(b, s, new TrainingRewriteOptions()));
        Assert.Contains(r.GradModel.Graph.Node, n => n.DocString == TrainingRewrite.BatchNormMarker);
    }

    [Theory]
    [InlineData(-2L)]
    [InlineData(2L)]
    [InlineData(-1L)]
    public void LayerNormalizationAxes(long axis)
    {
        long[] dims = [2, 3, 4, 2];
        int a = (int)(axis < 0 ? axis + dims.Length : axis);
        long[] scaleDims = dims[a..];
        foreach (var t in new[] { D, F })
            Check(t, [new("x", dims), new("scale", scaleDims, Positive), new("bias", scaleDims)],
                g => g.Op("LayerNormalization", ["x", "scale", "bias"], Attr.Int("axis", axis), Attr.Float("epsilon", 1e-2f)),
                step: t == F ? 1e-2 : null, tolerance: t == F ? 2e-2 : null);
    }

    [Fact]
    public void LayerNormalizationFloatWithStashTypeZero() =>
        Check(F, [new("x", [2, 3, 4]), new("scale", [4], Positive), new("bias", [4])],
            g => g.Op("LayerNormalization", ["x", "scale", "bias"], Attr.Int("stash_type", 0), Attr.Float("epsilon", 1e-2f)), tolerance: 2e-2);

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(1, true)]
    [InlineData(2, true)]
    public void LayerNormalizationMeanAndInvStdDevOutputsOnThePath(int output, bool alsoY)
    {
        // The optional Mean and InvStdDev outputs ([N, 3, 1]) are differentiable functions of X too (float only: ORT's
        // kernel has no double stash outputs).
        Check(F, [new("x", [2, 3, 4]), new("scale", [4], Positive), new("bias", [4])], g =>
        {
            var o = g.OpMulti("LayerNormalization", ["x", "scale", "bias"], 3, Attr.Float("epsilon", 1e-2f));
            return alsoY ? g.Op("Mul", [o[0], o[output]]) : g.Op("Mul", [o[output], o[output]]);
        }, step: 1e-2, tolerance: 2e-2);
    }

    [Fact]
    public void LayerNormalizationWithoutBias() =>
        Check(D, [new("x", [2, 3, 4]), new("scale", [4], Positive)],
            g => g.Op("LayerNormalization", ["x", "scale"], Attr.Float("epsilon", 1e-3f)));

    [Fact]
    public void DropoutInTrainingFormWithRatioInputScalesByTheKeptMask()
    {
        // Dropout(x, ratio 0.4, training_mode true) with its in-graph mask (random, so no finite differences): each
        // element of the gradient of sum(Y R) is either 0 (dropped) or R / (1 - ratio) (kept), and about 40% are dropped.
        var x = Enumerable.Range(0, 400).Select(i => 0.5 + (i % 7) * 0.1).ToArray();
        var g = GradAt(D, [new("x", [4, 100])], [x], b => b.Op("Dropout",
            ["x", b.Initializer(Tensors.Double("ratio", [], [0.4])), b.Initializer(Tensors.Bool("tm", [], [true]))], Attr.Int("seed", 3)),
            new GradientOptions())[0];
        var r = GradAt(D, [new("x", [4, 100])], [x], b => b.Op("Identity", ["x"]), new GradientOptions())[0];
        int dropped = 0;
        for (int i = 0; i < x.Length; i++)
        {
            if (g[i] == 0) { dropped++; continue; }
            Assert.Equal(r[i] / 0.6, g[i], 12);
        }
        Assert.InRange(dropped, 110, 210);
    }

    [Fact]
    public void DropoutInInferenceFormWithRatioInputIsIdentity()
    {
        var r = Check(D, [new("x", [2, 6])], g => g.Op("Mul", [g.Op("Dropout", ["x", DoubleConst(g, "ratio", [], 0.3)]), "x"]));
        Assert.DoesNotContain(r.GradModel.Graph.Node, n => n.OpType == "Cast" && n.Input.Any(i => i.Contains("mask")));
        // training_mode false given explicitly
        Check(D, [new("x", [2, 6])], g => g.Op("Dropout", ["x", DoubleConst(g, "ratio2", [], 0.3), g.Initializer(Tensors.Bool("tm", [], [false]))]));
    }
}
