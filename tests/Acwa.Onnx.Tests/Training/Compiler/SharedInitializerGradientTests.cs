using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;

namespace Acwa.Onnx.Tests.Training.Compiler;

/// <summary>
/// Weight tying: one initializer read by two nodes is one parameter whose gradient is the sum over both uses (checked
/// against central differences of the step graph's own loss), and an initializer reached through Transpose trains too.
/// </summary>
public sealed class SharedInitializerGradientTests
{
    /// <summary>x [N,4] -> MatMul T -> Tanh (smooth, for the finite differences) -> MatMul T (same initializer) -> MatMul (Transpose of H [3,4]) -> logits [N,3].</summary>
    private static ModelProto Tied()
    {
        var rng = new Random(3);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var b = new GraphBuilder("tied");
        var x = b.Input("x", ElementType.Float, null, 4);
        var t = b.ConstFloat("T", [4, 4], R(16));
        var h = b.ConstFloat("H", [3, 4], R(12));
        var a = b.Op("Tanh", [b.Op("MatMul", [x, t])]);
        var c = b.Op("MatMul", [a, t]);
        var logits = b.Op("MatMul", [c, b.Op("Transpose", [h], Attr.Ints("perm", 1, 0))]);
        b.OutputAs(logits, "logits", ElementType.Float, null, 3);
        return OnnxModel.Create(b.Graph);
    }

    [Fact]
    public void TiedWeightGradientIsTheSumOverItsUses()
    {
        var options = new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0f };
        var set = TrainingArtifacts.Compile(Tied(), options, exposeGradients: true);
        Assert.Equal(["T", "H"], set.Manifest.State.Where(s => s.Kind == StateKind.Parameter).Select(s => s.Name));
        var rng = new Random(5);
        var x = Enumerable.Range(0, 5 * 4).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        long[] y = [0, 1, 2, 1, 0];

        HostStepLoop.AssertGradientsMatchFiniteDifferences(set, x, y, ["H", "T"], 1e-2f);
    }
}
