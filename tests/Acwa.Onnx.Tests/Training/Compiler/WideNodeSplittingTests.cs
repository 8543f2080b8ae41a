using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Models;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Training.Compiler;

public class WideNodeSplittingTests
{
    /// <summary>x [n] split into 70 pieces of sizes 1..70 (in a shuffled order), each piece negated, concatenated back, plus a 70-input Concat of the raw pieces.</summary>
    private static (ModelProto Model, int Total) WideGraph()
    {
        var rng = new Random(3);
        var sizes = Enumerable.Range(1, 70).Select(s => (long)s).OrderBy(_ => rng.Next()).ToArray();
        int total = (int)sizes.Sum();
        var b = new GraphBuilder("wide");
        var x = b.Input("x", ElementType.Float, total);
        var pieces = b.OpMulti("Split", [x, b.ConstInt64("sizes", sizes)], sizes.Length, Attr.Int("axis", 0));
        var negated = pieces.Select(p => b.Op("Neg", [p])).ToArray();
        b.OutputAs(b.Op("Concat", negated, Attr.Int("axis", 0)), "negated", ElementType.Float, total);
        b.OutputAs(b.Op("Concat", pieces.Reverse().ToArray(), Attr.Int("axis", 0)), "reversed", ElementType.Float, total);
        b.Output(pieces[17], ElementType.Float, sizes[17]);
        return (OnnxModel.Create(b.Graph), total);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(4)] // narrower than the square root of 70: the groups themselves are split again
    public void WideConcatsAndSplitsBecomeTreesOfAtMostMaxFanThatComputeTheSameValues(int maxFan)
    {
        var (model, total) = WideGraph();
        var narrowed = model.Clone();
        WideNodeSplitting.Apply(narrowed.Graph, maxFan);

        Assert.All(narrowed.Graph.Node.Where(n => n.OpType == "Concat"), n => Assert.InRange(n.Input.Count, 2, maxFan));
        Assert.All(narrowed.Graph.Node.Where(n => n.OpType == "Split"), n => Assert.InRange(n.Output.Count, 1, maxFan));
        Assert.True(narrowed.Graph.Node.Count(n => n.OpType == "Split") > 1);
        var x = Enumerable.Range(0, total).Select(i => (float)Math.Sin(i)).ToArray();
        using var before = new Ort(model);
        using var after = new Ort(narrowed);
        var r0 = before.Run([Ort.F("x", x, total)]);
        var r1 = after.Run([Ort.F("x", x, total)]);
        Assert.Equal(r0.Keys.Order(), r1.Keys.Order());
        foreach (var k in r0.Keys) Assert.Equal((float[])r0[k], (float[])r1[k]);
    }

    [Fact]
    public void NarrowNodesAndSplitsWithoutConstantSizesAreLeftAlone()
    {
        var b = new GraphBuilder("narrow");
        var x = b.Input("x", ElementType.Float, 40);
        var s = b.Input("s", ElementType.Int64, 40);
        var pieces = b.OpMulti("Split", [x, s], 40, Attr.Int("axis", 0)); // sizes known only at run time
        b.OutputAs(b.Op("Concat", pieces.Take(32).ToArray(), Attr.Int("axis", 0)), "y", ElementType.Float, [null]);
        var model = OnnxModel.Create(b.Graph);
        var narrowed = model.Clone();
        WideNodeSplitting.Apply(narrowed.Graph);
        Assert.Equal(model.Graph.ToString(), narrowed.Graph.ToString());
    }

    [Fact]
    public void CudaCompiledResNetHasNoNodeWiderThanACudaGraphCapturesAndItsStepMatchesTheCpuCompiledOne()
    {
        var resnet = ResNetCifar.Build(20, seed: 1);
        // SGD: the new parameters are the old minus lr times the gradient, so they compare as closely as the gradients do.
        var sgd = new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0.05f, Momentum = 0.9f };
        var cuda = TrainingArtifacts.Compile(resnet, sgd with { Device = Device.Cuda() }, exposeGradients: true);
        var cpu = TrainingArtifacts.Compile(resnet, sgd, exposeGradients: true);
        var g = cuda.TrainingModel.Graph;
        Assert.All(g.Node.Where(n => n.OpType == "Concat"), n => Assert.InRange(n.Input.Count, 1, WideNodeSplitting.MaxFan));
        Assert.All(g.Node.Where(n => n.OpType == "Split"), n => Assert.InRange(n.Output.Count, 1, WideNodeSplitting.MaxFan));
        // ResNet-20 has 65 parameter tensors: the fused update's Concat and Split were wider before.
        Assert.True(cuda.Manifest.State.Count(s => s.Kind == Acwa.Onnx.Training.StateKind.Parameter) > WideNodeSplitting.MaxFan);
        Assert.Contains(cpu.TrainingModel.Graph.Node, n => n.OpType == "Concat" && n.Input.Count > WideNodeSplitting.MaxFan);

        // The CUDA-compiled graph run on ORT's CPU provider against the CPU-compiled one (they differ in their convolution
        // gradient decompositions and reductions, hence tolerances, not bit equality): loss, gradients, and every updated
        // parameter and momentum buffer, which leave the graph through the narrowed Split.
        var rng = new Random(9);
        var x = Enumerable.Range(0, 8 * 3 * 32 * 32).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var y = Enumerable.Range(0, 8).Select(_ => (long)rng.Next(10)).ToArray();
        using var a = new HostStepLoop(cpu);
        using var b = new HostStepLoop(cuda);
        float la = a.Step(x, y), lb = b.Step(x, y);
        Assert.True(Math.Abs(la - lb) <= 1e-6 * Math.Abs(la), $"loss {la} (CPU graph) vs {lb} (CUDA graph)");
        foreach (var name in a.Last.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal)))
            HostStepLoop.AssertCloseToScale((float[])a.Last[name], (float[])b.Last[name], 1e-4f, name);
        foreach (var (name, t) in a.State)
            HostStepLoop.AssertCloseToScale(t.Data!, b.State[name].Data!, 1e-5f, name);
    }
}
