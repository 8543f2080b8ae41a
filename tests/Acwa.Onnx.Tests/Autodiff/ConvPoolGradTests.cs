using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using static Acwa.Onnx.Tests.Autodiff.GradCheck;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Autodiff;

public class ConvPoolGradTests
{
    private const ElementType F = ElementType.Float;
    private const ElementType D = ElementType.Double;

    public static TheoryData<string, long, long[], long, long, long, long> ConvCases() => new()
    {
        // name, cin, pads, stride, dilation, group, cout
        { "plain", 3, [0, 0, 0, 0], 1, 1, 1, 4 },
        { "same pad", 3, [1, 1, 1, 1], 1, 1, 1, 4 },
        { "stride 2", 3, [1, 1, 1, 1], 2, 1, 1, 4 },
        { "asym pads", 3, [0, 1, 2, 0], 1, 1, 1, 2 },
        { "asym pads stride 2", 3, [2, 0, 1, 1], 2, 1, 1, 2 },
        { "dilation 2", 2, [2, 2, 2, 2], 1, 2, 1, 3 },
        { "dilation 2 stride 2", 2, [1, 0, 0, 1], 2, 2, 1, 3 },
        { "groups 2", 4, [1, 1, 1, 1], 1, 1, 2, 6 },
        { "groups 2 stride 2", 4, [1, 1, 1, 1], 2, 1, 2, 4 },
        { "depthwise", 4, [1, 1, 1, 1], 1, 1, 4, 4 },
        { "depthwise stride 2", 3, [1, 1, 1, 1], 2, 1, 3, 3 },
        { "depthwise dilation 2 asym pads", 3, [2, 1, 0, 2], 1, 2, 3, 3 },
        { "depthwise multiplier 2", 3, [1, 1, 1, 1], 1, 1, 3, 6 },
    };

    private static void ConvCase(long cin, long[] pads, long stride, long dil, long group, long cout, GradientOptions options, bool bias = true)
    {
        GradInput[] inputs = bias
            ? [new("x", [2, cin, 7, 6]), new("w", [cout, cin / group, 3, 3]), new("b", [cout])]
            : [new("x", [2, cin, 7, 6]), new("w", [cout, cin / group, 3, 3])];
        Check(F, inputs, g => g.Op("Conv", bias ? ["x", "w", "b"] : ["x", "w"],
            Attr.Ints("pads", pads), Attr.Ints("strides", stride, stride), Attr.Ints("dilations", dil, dil), Attr.Int("group", group)),
            options: options, samples: 8);
    }

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void ConvDefaultMethods(string name, long cin, long[] pads, long stride, long dil, long group, long cout)
    {
        _ = name;
        ConvCase(cin, pads, stride, dil, group, cout, new GradientOptions());
    }

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void ConvAlternativeMethods(string name, long cin, long[] pads, long stride, long dil, long group, long cout)
    {
        _ = name;
        // FlippedConv at every stride (zero-interleaved dY for stride 2) with TapsGemm;
        // ConvTranspose at every stride with ConvOverTransposed (groups 1) or TapsGemm; PerTapGemm (groups 1).
        ConvCase(cin, pads, stride, dil, group, cout, new GradientOptions { ConvInputGrad = ConvInputGradMethod.FlippedConv, ConvWeightGrad = ConvWeightGradMethod.TapsGemm }, bias: false);
        ConvCase(cin, pads, stride, dil, group, cout, new GradientOptions { ConvInputGrad = ConvInputGradMethod.ConvTranspose, ConvWeightGrad = ConvWeightGradMethod.ConvOverTransposed }, bias: false);
        if (group == 1)
            ConvCase(cin, pads, stride, dil, group, cout, new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.PerTapGemm }, bias: false);
        // The CPU default is Im2ColConvMatMul (covered by ConvDefaultMethods); the CUDA default SlicedPatchesMatMul here.
        ConvCase(cin, pads, stride, dil, group, cout, new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.SlicedPatchesMatMul }, bias: false);
        // The dense depthwise forms, forced (other groupings fall back to the CPU defaults); Auto picks them on small maps.
        ConvCase(cin, pads, stride, dil, group, cout, new GradientOptions { ConvInputGrad = ConvInputGradMethod.DepthwiseDense, ConvWeightGrad = ConvWeightGradMethod.DepthwiseDense }, bias: false);
        ConvCase(cin, pads, stride, dil, group, cout, new GradientOptions { ConvInputGrad = ConvInputGradMethod.DepthwiseDense, ConvWeightGrad = ConvWeightGradMethod.Im2ColConvMatMul }, bias: false);
    }

    [Fact]
    public void ConvWeightGradDefaultOnCpuIsOneDepthwiseIm2ColConv()
    {
        var r = Check(F, [new("x", [2, 3, 6, 6]), new("w", [4, 3, 3, 3])],
            g => g.Op("Conv", ["x", "w"], Attr.Ints("pads", 1, 1, 1, 1)), samples: 8);
        // Forward conv + input-gradient conv + the im2col conv (group = Cin); no tap slices (the one Slice flips the kernel).
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "Conv" && n.GetInt("group", 1) == 3);
        Assert.DoesNotContain(r.GradModel.Graph.Node, n => n.OpType is "Concat" or "Pad");
        Assert.Equal(1, CountOps(r.GradModel, "Slice"));
    }

    [Theory]
    [InlineData(5, 2, 1, true)]    // 5x5 depthwise on a 7x6 map: dense forms by default on the CPU
    [InlineData(3, 1, 2, true)]
    [InlineData(3, 1, 1, false)]   // cuda: cuDNN's forms
    public void SmallDepthwiseConvolutionsUseTheDenseFormsOnTheCpu(long k, long pad, long stride, bool cpu)
    {
        var r = Check(F, [new("x", [2, 4, 7, 6]), new("w", [4, 1, k, k])],
            g => g.Op("Conv", ["x", "w"], Attr.Ints("pads", pad, pad, pad, pad), Attr.Ints("strides", stride, stride), Attr.Int("group", 4)),
            options: new GradientOptions { Device = cpu ? Device.Cpu : Device.Cuda() }, samples: 8);
        int convs = r.GradModel.Graph.Node.Count(n => n.OpType is "Conv" or "ConvTranspose");
        Assert.Equal(cpu ? 1 : 2, convs); // the forward only, or forward + ConvTranspose (dX; dW is SlicedPatchesMatMul)
        Assert.Equal(cpu, r.GradModel.Graph.Initializer.Any(t => t.Name.StartsWith("ad_dw_taps", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(1, 1, true)]    // squeeze-excite: a 1x1 conv on a 1x1 map; per-sample products 24x the inputs
    [InlineData(6, 5, false)]   // a 6x5 map: the batched per-sample form
    public void OneGemmWeightGradientOnMapsWhereTheBatchedProductsOutgrowTheInputs(long h, long w, bool oneGemm)
    {
        var r = Check(F, [new("x", [3, 48, h, w]), new("w", [48, 48, 1, 1])], g => g.Op("Conv", ["x", "w"]), samples: 8);
        Assert.Equal(oneGemm, r.GradModel.Graph.Node.Any(n => n.OpType == "Gemm"));
        Assert.Equal(!oneGemm, r.GradModel.Graph.Node.Any(n => n.OpType == "ReduceSum"));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 0)]
    [InlineData(2, 1)] // padded: the im2col Conv is still needed
    public void PointwiseConvWeightGradNeedsNoIm2ColCopy(long stride, long pad)
    {
        var r = Check(F, [new("x", [2, 3, 6, 5]), new("w", [4, 3, 1, 1])],
            g => g.Op("Conv", ["x", "w"], Attr.Ints("strides", stride, stride), Attr.Ints("pads", pad, pad, pad, pad)), samples: 8);
        // Forward conv and the input gradient (a Conv, or a ConvTranspose for stride 2); X itself (or its strided Slice)
        // serves as the taps of a 1x1 kernel without padding.
        Assert.Equal(pad == 0 ? 0 : 1, r.GradModel.Graph.Node.Count(n => n.OpType == "Conv" && n.GetInt("group", 1) == 3));
    }

    [Fact]
    public void ConvSameUpperAutoPad() =>
        Check(F, [new("x", [2, 2, 6, 5]), new("w", [3, 2, 3, 3])],
            g => g.Op("Conv", ["x", "w"], Attr.String("auto_pad", "SAME_UPPER"), Attr.Ints("strides", 2, 2)));

    [Theory]
    [InlineData(3, 1, 0)]   // overlapping windows
    [InlineData(2, 2, 0)]
    [InlineData(3, 2, 1)]   // overlapping, padded
    public void MaxPoolUsesIndicesWithScatterAdd(long k, long s, long pad)
    {
        var r = Check(ElementType.Double, [new("x", [2, 3, 7, 7])],
            g => g.Op("MaxPool", ["x"], Attr.Ints("kernel_shape", k, k), Attr.Ints("strides", s, s), Attr.Ints("pads", pad, pad, pad, pad)),
            options: new GradientOptions { MaxPoolGrad = MaxPoolGradMethod.IndicesScatter }, samples: 30);
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "ScatterElements");
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "MaxPool" && n.Output.Count == 2);
    }

    [Theory]
    [InlineData(2, 2, 0, 8, 8, true)]    // the CNN's 2x2/2 pool
    [InlineData(2, 2, 0, 7, 5, false)]   // odd sizes (last row/column in no window): falls back to ScatterElements
    [InlineData(3, 3, 0, 9, 6, true)]
    [InlineData(3, 2, 0, 7, 7, false)]   // overlapping: falls back to ScatterElements
    [InlineData(2, 2, 1, 7, 7, false)]   // padded: falls back to ScatterElements
    public void MaxPoolDefaultOnCpuUnpoolsNonOverlappingWindows(long k, long s, long pad, long h, long w, bool unpool)
    {
        var r = Check(F, [new("x", [2, 3, h, w])],
            g => g.Op("MaxPool", ["x"], Attr.Ints("kernel_shape", k, k), Attr.Ints("strides", s, s), Attr.Ints("pads", pad, pad, pad, pad)),
            step: 1e-3, tolerance: 1e-2, samples: 30);
        Assert.Equal(unpool, r.GradModel.Graph.Node.Any(n => n.OpType == "MaxUnpool"));
        Assert.Equal(!unpool, r.GradModel.Graph.Node.Any(n => n.OpType == "ScatterElements"));
        var cuda = Check(F, [new("x", [2, 3, h, w])],
            g => g.Op("MaxPool", ["x"], Attr.Ints("kernel_shape", k, k), Attr.Ints("strides", s, s), Attr.Ints("pads", pad, pad, pad, pad)),
            options: new GradientOptions { Device = Device.Cuda() }, step: 1e-3, tolerance: 1e-2, samples: 10);
        Assert.DoesNotContain(cuda.GradModel.Graph.Node, n => n.OpType == "MaxUnpool");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]   // the Relu output also feeds an Add: its gradient is a Sum, so the Relu masks it itself
    public void MaxPoolOverReluMasksAtPooledSize(bool fanOut)
    {
        var r = Check(F, [new("x", [2, 3, 6, 8], AwayFromZero), new("w", [4, 3, 3, 3])],
            g =>
            {
                var a = g.Op("Relu", [g.Op("Conv", ["x", "w"], Attr.Ints("pads", 1, 1, 1, 1))]);
                var p = g.Op("MaxPool", [a], Attr.Ints("kernel_shape", 2, 2), Attr.Ints("strides", 2, 2));
                if (!fanOut) return p;
                var flat = g.Op("Reshape", [a, g.ConstInt64("shape", -1, 4, 12, 4)]);
                return g.Op("Add", [flat, g.Op("Reshape", [p, g.ConstInt64("shape2", -1, 4, 12, 1)])]);
            },
            step: 1e-3, tolerance: 2e-2, samples: 12);
        // One Relu mask (Greater) at pooled size; with the fan-out, a second one by the Relu rule at full size.
        var masks = r.GradModel.Graph.Node.Where(n => n.OpType == "Greater").ToList();
        Assert.Equal(fanOut ? 2 : 1, masks.Count);
        Assert.Contains(r.GradModel.Graph.Node, n => n.OpType == "MaxUnpool");
    }

    [Fact]
    public void MaxPoolUnpoolMatchesScatterOnTies()
    {
        // Windows full of equal values (zeros after a Relu, repeated values): both forms send dY to the element that
        // MaxPool's Indices name (the first maximum), so the gradients are bit-identical.
        var x = new double[2 * 2 * 4 * 6];
        for (int i = 0; i < x.Length; i++) x[i] = i % 3 == 0 ? 0 : (i / 5) % 4 * 0.5;
        var results = new List<double[]>();
        foreach (var m in new[] { MaxPoolGradMethod.IndicesScatter, MaxPoolGradMethod.IndicesUnpool })
            results.Add(GradAt(F, [new("x", [2, 2, 4, 6])], [x],
                g => g.Op("MaxPool", ["x"], Attr.Ints("kernel_shape", 2, 2), Attr.Ints("strides", 2, 2)),
                new GradientOptions { MaxPoolGrad = m })[0]);
        Assert.Equal(results[0], results[1]);
        Assert.Equal(2 * 2 * 2 * 3, results[0].Count(v => v != 0));
    }

    [Theory]
    [InlineData(0, 0L, 1L)]
    [InlineData(1, 1L, 2L)]
    [InlineData(0, 1L, 2L)]
    [InlineData(1, 0L, 1L)]
    public void AveragePoolCountIncludePadBothWays(long includePad, long pad, long stride)
    {
        foreach (var method in new[] { ConvInputGradMethod.FlippedConv, ConvInputGradMethod.ConvTranspose })
            Check(F, [new("x", [2, 3, 6, 7])],
                g => g.Op("AveragePool", ["x"], Attr.Ints("kernel_shape", 3, 3), Attr.Ints("strides", stride, stride),
                    Attr.Ints("pads", pad, pad, pad, pad), Attr.Int("count_include_pad", includePad)),
                options: new GradientOptions { ConvInputGrad = method }, samples: 20);
    }

    /// <summary>
    /// ceil_mode 1 (timm's ResNet-D: AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)): the last windows reach
    /// past the end (7x7 and 6x8 maps), and their divisors leave that overhang out whether or not padding counts.
    /// </summary>
    [Theory]
    [InlineData(2L, 2L, 0L, 0L, 7L, 7L)]
    [InlineData(2L, 2L, 0L, 1L, 7L, 7L)]
    [InlineData(3L, 2L, 1L, 0L, 6L, 8L)]
    [InlineData(3L, 2L, 1L, 1L, 6L, 8L)]
    public void AveragePoolCeilModeWindowsPastTheEnd(long k, long stride, long pad, long includePad, long h, long w)
    {
        foreach (var options in new[] { new GradientOptions { ConvInputGrad = ConvInputGradMethod.FlippedConv },
                     new GradientOptions { ConvInputGrad = ConvInputGradMethod.ConvTranspose }, new GradientOptions { Device = Device.Cuda() } })
            Check(F, [new("x", [2, 3, h, w])],
                g => g.Op("AveragePool", ["x"], Attr.Ints("kernel_shape", k, k), Attr.Ints("strides", stride, stride),
                    Attr.Ints("pads", pad, pad, pad, pad), Attr.Int("count_include_pad", includePad), Attr.Int("ceil_mode", 1)),
                options: options, samples: 30);
    }

    [Fact]
    public void GlobalAveragePool() =>
        Check(F, [new("x", [2, 3, 4, 5])], g => g.Op("GlobalAveragePool", ["x"]));

    [Fact]
    public void AveragesOverSmallMapsSpreadTheirGradientByAOnesRowMatMul()
    {
        // [N, C, 1, 1] -> [N, C, 2, 3]: a column times a row of ones instead of ORT's element-by-element Expand.
        var gap = Check(F, [new("x", [2, 3, 2, 3])], g => g.Op("GlobalAveragePool", ["x"])); // no double kernel on the CPU EP
        var mean = Check(D, [new("x", [2, 3, 2, 3])], g => g.Op("ReduceMean", ["x", g.ConstInt64("axes", 2, 3)], Attr.Int("keepdims", 1)));
        foreach (var r in new[] { gap, mean })
        {
            Assert.DoesNotContain(r.GradModel.Graph.Node, n => n.OpType == "Expand");
            Assert.Contains(r.GradModel.Graph.Initializer, t => t.Name.StartsWith("ad_ones_row", StringComparison.Ordinal));
        }
        // Larger maps keep Expand (spans long enough for ORT's copy loop), and so do CUDA graphs (not measured there).
        var big = Check(F, [new("x", [2, 3, 9, 8])], g => g.Op("GlobalAveragePool", ["x"]));
        Assert.Contains(big.GradModel.Graph.Node, n => n.OpType == "Expand");
        var cuda = Check(F, [new("x", [2, 3, 2, 3])], g => g.Op("GlobalAveragePool", ["x"]), options: new GradientOptions { Device = Device.Cuda() });
        Assert.Contains(cuda.GradModel.Graph.Node, n => n.OpType == "Expand");
    }

    [Fact]
    public void ResNetBasicBlockWithTrainingBatchNorm()
    {
        // conv-BN-relu-conv-BN + identity shortcut, relu; BN in training form; the shortcut makes x fan out.
        var r = Check(F,
            [new("x", [3, 4, 5, 5]), new("w1", [4, 4, 3, 3]), new("g1", [4], Positive), new("b1", [4]),
             new("w2", [4, 4, 3, 3]), new("g2", [4], Positive), new("b2", [4])],
            g =>
            {
                string Rm() => g.ConstFloat("rm", [4], new float[4]);
                string Rv() => g.ConstFloat("rv", [4], 1f, 1f, 1f, 1f);
                var c1 = g.Op("Conv", ["x", "w1"], Attr.Ints("pads", 1, 1, 1, 1));
                var a1 = g.Op("Relu", [g.Op("BatchNormalization", [c1, "g1", "b1", Rm(), Rv()])]);
                var c2 = g.Op("Conv", [a1, "w2"], Attr.Ints("pads", 1, 1, 1, 1));
                var n2 = g.Op("BatchNormalization", [c2, "g2", "b2", Rm(), Rv()]);
                return g.Op("Relu", [g.Op("Add", [n2, "x"])]);
            },
            forwardRewrite: (b, s) => Assert.Equal(4, TrainingRewrite.Apply(b, s, new TrainingRewriteOptions()).Count),
            step: 1e-3, tolerance: 2e-2, samples: 6);
        Assert.Equal(2, r.GradModel.Graph.Node.Count(n => n.DocString == TrainingRewrite.BatchNormMarker));
    }
}
