using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Tests.Training.Compiler;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Autodiff;

public class DepthwiseLoweringTests
{
    /// <summary>A one-Conv graph: x [N, C, H, W] (W given), weights and optional bias as initializers.</summary>
    private static ModelProto ConvModel(long ch, long h, long w, long k, long[] pads, long stride, long dilation, long group, long cout, bool bias, int seed = 3,
        string? autoPad = null)
    {
        var rng = new Random(seed);
        float[] Draw(long n) => Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var b = new GraphBuilder("dw");
        b.Input("x", ElementType.Float, null, ch, h, w);
        // The weights as a graph input with a default value (an initializer of the same name), trainable as in a training
        // graph; constant weights are not lowered (ConstantWeightsAreNotLowered).
        b.Input("w", ElementType.Float, cout, ch / group, k, k);
        b.Graph.Initializer.Add(Tensors.Float("w", [cout, ch / group, k, k], Draw(cout * ch / group * k * k)));
        var inputs = new List<string> { "x", "w" };
        if (bias) inputs.Add(b.Initializer(Tensors.Float("b", [cout], Draw(cout))));
        var y = b.Op("Conv", inputs, autoPad is null ? Attr.Ints("pads", pads) : Attr.String("auto_pad", autoPad),
            Attr.Ints("strides", stride, stride), Attr.Ints("dilations", dilation, dilation), Attr.Int("group", group));
        b.Graph.Output.Add(new ValueInfoProto { Name = y, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)ElementType.Float } } });
        return OnnxModel.Create(b.Graph);
    }

    private static (ModelProto Lowered, int Count) Lower(ModelProto m, long ch, long h, long w, long maxPairs = DepthwiseLowering.DefaultMaxPairs)
    {
        var lowered = m.Clone();
        var shapes = ShapeProbe.Infer(lowered, "x", [-1, ch, h, w]);
        int count = DepthwiseLowering.Apply(new GraphBuilder(lowered.Graph), shapes, maxPairs);
        return (lowered, count);
    }

    [Theory]
    [InlineData(3, new long[] { 1, 1, 1, 1 }, 1, 1, true)]
    [InlineData(5, new long[] { 2, 2, 2, 2 }, 1, 1, false)]
    [InlineData(5, new long[] { 2, 2, 2, 2 }, 2, 1, true)]
    [InlineData(3, new long[] { 0, 1, 2, 0 }, 2, 1, false)]   // asymmetric pads, stride 2
    [InlineData(3, new long[] { 2, 2, 2, 2 }, 1, 2, true)]    // dilation 2
    public void LoweredDepthwiseConvGivesTheConvsValues(long k, long[] pads, long stride, long dilation, bool bias) =>
        AssertLoweredGivesTheConvsValues(ConvModel(5, 6, 7, k, pads, stride, dilation, 5, 5, bias));

    [Theory]
    [InlineData("SAME_LOWER", 2L, 3L)]
    [InlineData("SAME_UPPER", 2L, 4L)]
    [InlineData("SAME_LOWER", 1L, 2L)]
    [InlineData("VALID", 2L, 3L)]
    public void LoweredDepthwiseConvWithAutoPadGivesTheConvsValues(string autoPad, long stride, long k) =>
        AssertLoweredGivesTheConvsValues(ConvModel(5, 6, 7, k, [], stride, 1, 5, 5, bias: false, autoPad: autoPad));

    private static void AssertLoweredGivesTheConvsValues(ModelProto m)
    {
        var (lowered, count) = Lower(m, 5, 6, 7);
        Assert.Equal(1, count);
        Assert.DoesNotContain(lowered.Graph.Node, n => n.OpType == "Conv");
        var x = Enumerable.Range(0, 3 * 5 * 6 * 7).Select(i => (float)Math.Sin(i * 0.37)).ToArray();
        var (expected, shape) = Models.ModelTestUtil.Run(m, x, [3, 5, 6, 7]);
        var (actual, loweredShape) = Models.ModelTestUtil.Run(lowered, x, [3, 5, 6, 7]);
        Assert.Equal(shape, loweredShape);
        Assert.True(Models.ModelTestUtil.MaxScaledError(actual, expected) < 1e-5);
    }

    [Fact]
    public void OnlyDepthwiseConvolutionsUpToTheBoundAreLowered()
    {
        Assert.Equal(0, Lower(ConvModel(4, 6, 6, 3, [1, 1, 1, 1], 1, 1, 2, 4, false), 4, 6, 6).Count);   // groups of two channels
        Assert.Equal(0, Lower(ConvModel(4, 6, 6, 3, [1, 1, 1, 1], 1, 1, 4, 8, false), 4, 6, 6).Count);   // channel multiplier 2
        Assert.Equal(0, Lower(ConvModel(4, 6, 6, 3, [1, 1, 1, 1], 1, 1, 1, 4, false), 4, 6, 6).Count);   // ordinary convolution
        // 6x6 -> 6x6 is 1296 position pairs: lowered under the default bound, not under a bound of 1000.
        Assert.Equal(1, Lower(ConvModel(4, 6, 6, 3, [1, 1, 1, 1], 1, 1, 4, 4, false), 4, 6, 6).Count);
        Assert.Equal(0, Lower(ConvModel(4, 6, 6, 3, [1, 1, 1, 1], 1, 1, 4, 4, false), 4, 6, 6, maxPairs: 1000).Count);
    }

    [Fact]
    public void ConstantWeightsAreNotLowered()
    {
        var m = ConvModel(4, 6, 6, 3, [1, 1, 1, 1], 1, 1, 4, 4, false);
        m.Graph.Input.Remove(m.Graph.Input.Single(i => i.Name == "w")); // frozen: a plain initializer
        Assert.Equal(0, Lower(m, 4, 6, 6).Count);
    }

    [Fact]
    public void CpuGraphsOfTheMobileNetFixtureRunItsDepthwiseConvAsMatMulsAndCudaGraphsKeepTheConv()
    {
        // The exported MobileNet fixture's depthwise conv (8x8 map): lowered in the CPU training and eval graphs (its
        // gradients then come from the MatMul rules; TorchTrainingStepTests checks them against PyTorch), kept for CUDA.
        var forward = Acwa.Onnx.Graphs.Import.OpsetUpgrade.ToOpset18(OnnxModel.Load(Models.ModelTestUtil.Fixture("tiny_mobilenet.onnx")));
        // (Other grouped Convs are gradient pieces, e.g. the im2col of conv1's weight gradient.)
        static bool Grouped(ModelProto m) => m.Graph.Node.Any(n => n.OpType == "Conv" && n.Input[1] == "dw.weight");
        Assert.True(Grouped(forward));
        var cpu = TrainingArtifacts.Compile(forward, new ArtifactOptions(), exposeGradients: false);
        Assert.False(Grouped(cpu.TrainingModel));
        Assert.False(Grouped(cpu.EvalModel));
        Assert.True(Grouped(cpu.InferenceModel)); // the export keeps the model's own ops
        var off = TrainingArtifacts.Compile(forward, new ArtifactOptions { Gradients = new GradientOptions { DenseDepthwiseMaxPairs = 0 } }, exposeGradients: false);
        Assert.True(Grouped(off.TrainingModel));
        var cuda = TrainingArtifacts.Compile(forward, new ArtifactOptions { Device = Device.Cuda() }, exposeGradients: false);
        Assert.True(Grouped(cuda.TrainingModel));
        var frozen = TrainingArtifacts.Compile(forward, new ArtifactOptions { Frozen = ["dw.weight"] }, exposeGradients: false);
        Assert.True(Grouped(frozen.TrainingModel)); // frozen weights: ORT's constant-weight kernels are faster
        Assert.True(Grouped(frozen.EvalModel));
    }
}
