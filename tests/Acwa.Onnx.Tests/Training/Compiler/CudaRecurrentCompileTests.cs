using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Import;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Tests.Models;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Tests.Training.Compiler;

/// <summary>
/// What a CUDA compile does for recurrent models so that ONNX Runtime's CUDA provider runs every node with CPU fallback
/// disabled (found on an H200, 2026-12-04, docs/gpu.md): recurrent nodes that cuDNN does not take are unrolled in the
/// evaluation graph too, and gradient zeros are not made from Shape (ORT's transpose optimizer rewrites
/// Shape(Transpose(v)) as a host Gather). Checked here on the CPU: the graphs' structure and their values.
/// </summary>
public class CudaRecurrentCompileTests
{
    private static NodeProto Node(string op, params AttributeProto[] attrs)
    {
        var n = new NodeProto { OpType = op, Name = op.ToLowerInvariant() };
        n.Input.AddRange(["x", "w", "r"]);
        n.Attribute.AddRange(attrs);
        return n;
    }

    public static TheoryData<string, NodeProto, bool> Nodes => new()
    {
        { "LSTM, defaults", Node("LSTM", Attr.Int("hidden_size", 4)), true },
        { "LSTM, defaults named, bidirectional", Node("LSTM", Attr.Strings("activations", "Sigmoid", "Tanh", "Tanh", "Sigmoid", "Tanh", "Tanh")), true },
        { "LSTM, clip", Node("LSTM", Attr.Float("clip", 3f)), false },
        { "LSTM, input_forget", Node("LSTM", Attr.Int("input_forget", 1)), false },
        { "LSTM, input_forget 0", Node("LSTM", Attr.Int("input_forget", 0)), true },
        { "LSTM, relu cell", Node("LSTM", Attr.Strings("activations", "Sigmoid", "Relu", "Tanh")), false },
        { "GRU, linear_before_reset 1 (PyTorch)", Node("GRU", Attr.Int("linear_before_reset", 1)), true },
        { "GRU, linear_before_reset 0", Node("GRU", Attr.Int("linear_before_reset", 0)), false },
        { "GRU, linear_before_reset absent (0)", Node("GRU"), false },
        { "RNN, tanh", Node("RNN"), true },
        { "RNN, relu (nn.RNN(nonlinearity='relu'))", Node("RNN", Attr.Strings("activations", "Relu", "Relu")), false },
        { "RNN, activation_alpha", Node("RNN", Attr.Floats("activation_alpha", 0.5f)), false },
    };

    [Theory]
    [MemberData(nameof(Nodes))]
    public void CudaRunsFusedFollowsCudnnsLimits(string what, NodeProto node, bool fused)
    {
        Assert.True(RecurrentLowering.CudaRunsFused(node) == fused, what);
    }

    [Fact]
    public void AnLstmPeepholeInputIsNotFusedOnCuda()
    {
        var n = Node("LSTM");
        n.Input.AddRange(["b", "", "", "", "p"]);
        Assert.False(RecurrentLowering.CudaRunsFused(n));
    }

    [Fact]
    public void CudaRunsFusedRefusesOtherOps()
    {
        var e = Assert.Throws<ArgumentException>(() => RecurrentLowering.CudaRunsFused(new NodeProto { OpType = "Conv", Name = "c" }));
        Assert.Contains("'c'", e.Message);
    }

    [Fact]
    public void TheCudaEvalGraphUnrollsAReluRnnAndGivesTheFusedKernelsLogits()
    {
        var forward = OpsetUpgrade.ToOpset18(OnnxModel.Load(ModelTestUtil.Fixture("tiny_rnn.onnx")));
        var cpu = TrainingArtifacts.Compile(forward, new ArtifactOptions { Device = Device.Cpu });
        var cuda = TrainingArtifacts.Compile(forward, new ArtifactOptions { Device = Device.Cuda() });
        Assert.Contains(cpu.EvalModel.Graph.Node, n => n.OpType == "RNN");
        Assert.DoesNotContain(cuda.EvalModel.Graph.Node, n => n.OpType == "RNN");
        Assert.Empty(DevicePlacementCheck.FindHostShapeArithmetic(cuda.EvalModel));

        var x = Npy.Read(ModelTestUtil.Fixture("tiny_rnn/x.npy"));
        var fused = EvalLogits(cpu, x);
        var unrolled = EvalLogits(cuda, x);
        Assert.True(ModelTestUtil.MaxScaledError(unrolled, fused) <= 1e-5, "unrolled RNN's logits differ from ORT's RNN kernel's");
    }

    [Theory]
    [InlineData("tiny_lstm")]
    [InlineData("tiny_gru")]
    [InlineData("tiny_rnn")]
    public void TheCudaTrainingGraphOfAnUnrolledRecurrentNetReadsNoShape(string fixture)
    {
        var forward = OpsetUpgrade.ToOpset18(OnnxModel.Load(ModelTestUtil.Fixture($"{fixture}.onnx")));
        var set = TrainingArtifacts.Compile(forward, new ArtifactOptions { Device = Device.Cuda() });
        Assert.DoesNotContain(set.TrainingModel.Graph.Node, n => n.OpType == "Shape");
        Assert.DoesNotContain(set.EvalModel.Graph.Node, n => n.OpType == "Shape");
    }

    [Fact]
    public void ZerosShapedLikeABatchDependentValueIgnoreItsInfAndNaN()
    {
        var b = new GraphBuilder("zeros");
        b.Input("x", ElementType.Float, null, 3);
        var shapes = new ShapeTable();
        shapes.Set("x", [-1, 3], ElementType.Float);
        var zeros = new GradEmitter(b, shapes).Zeros([-1, 3], "x", ElementType.Float);
        Assert.DoesNotContain(b.Graph.Node, n => n.OpType == "Shape");
        b.OutputAs(zeros, "z", ElementType.Float, null, 3);
        using var session = new InferenceSession(OnnxModel.ToBytes(OnnxModel.Create(b.Graph)));
        float[] x = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1, -2, 3];
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, [2, 3]))]);
        var z = results.First().AsTensor<float>();
        Assert.Equal([2, 3], z.Dimensions.ToArray());
        Assert.All(z.ToArray(), v => Assert.Equal(0f, v));
    }

    /// <summary>The eval graph's logits for the fixture's inputs, from the artifact set's initial state, on the CPU.</summary>
    private static float[] EvalLogits(ArtifactSet set, Npy x)
    {
        var dir = Directory.CreateTempSubdirectory("acwa-cuda-eval-").FullName;
        try
        {
            TrainingArtifacts.Write(set, dir);
            using var runner = new Acwa.Onnx.Training.Runtime.StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
            int n = (int)x.Shape[0];
            return runner.Evaluate(x.Floats(), n).Logits.ToArray();
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
