using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;

namespace Acwa.Onnx.Tests.Training.Compiler;

/// <summary>
/// A model at ONNX opset 21 with the newer ops recent exporters write (GroupNormalization with per-channel affine, Gelu
/// of opset 20) compiles, and its step graph's gradients match central differences of the step graph's own loss.
/// </summary>
public sealed class NewerOpsetModelTests
{
    /// <summary>x [N,2,4,4] -> Conv 4x3x3 -> GroupNormalization(2 groups) -> Gelu(tanh) -> mean over H, W -> MatMul W [4,3].</summary>
    private static ModelProto Model()
    {
        var rng = new Random(7);
        float[] R(int n, double lo = -0.5, double hi = 0.5) => Enumerable.Range(0, n).Select(_ => (float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
        var b = new GraphBuilder("opset21");
        var x = b.Input("x", ElementType.Float, null, 2, 4, 4);
        var conv = b.Op("Conv", [x, b.ConstFloat("conv.w", [4, 2, 3, 3], R(72))], Attr.Ints("pads", 1, 1, 1, 1));
        var gn = b.Op("GroupNormalization", [conv, b.ConstFloat("gn.scale", [4], R(4, 0.5, 1.5)), b.ConstFloat("gn.bias", [4], R(4))],
            Attr.Int("num_groups", 2));
        var act = b.Op("Gelu", [gn], Attr.String("approximate", "tanh"));
        var pooled = b.Op("ReduceMean", [act, b.ConstInt64("axes", 2, 3)], Attr.Int("keepdims", 0));
        b.OutputAs(b.Op("MatMul", [pooled, b.ConstFloat("fc.w", [4, 3], R(12))]), "logits", ElementType.Float, null, 3);
        return OnnxModel.Create(b.Graph, opset: 21);
    }

    [Fact]
    public void Opset21ModelWithGroupNormalizationAndGeluTrainsWithCorrectGradients()
    {
        var set = TrainingArtifacts.Compile(Model(), new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0f }, exposeGradients: true);
        Assert.DoesNotContain(set.TrainingModel.Graph.Node, n => n.OpType == "GroupNormalization"); // lowered
        Assert.Contains(set.InferenceModel.Graph.Node, n => n.OpType == "GroupNormalization");     // the export keeps it
        var rng = new Random(11);
        var x = Enumerable.Range(0, 3 * 32).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        long[] y = [0, 2, 1];

        using (var runner = new HostStepLoop(set))
        {
            runner.Step(x, y);
            foreach (var name in new[] { "conv.w", "gn.scale", "gn.bias", "fc.w" }) Assert.Contains((float[])runner.Last["grad." + name], g => g != 0);
        }
        HostStepLoop.AssertGradientsMatchFiniteDifferences(set, x, y, ["conv.w", "gn.scale", "gn.bias", "fc.w"], 2e-2f,
            picks: n => Enumerable.Range(0, n).Where(i => i % Math.Max(1, n / 6) == 0));
    }
}
