using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Models;
using Acwa.Onnx.Training.Compiler;

namespace Acwa.Onnx.Tests.Training.Compiler;

public class GraphCleanupTests
{
    [Fact]
    public void OutputIdentitiesAreElidedExceptWhereTheyCopyAnInputAndTheGraphStillComputesTheSame()
    {
        var b = new GraphBuilder("g");
        var x = b.Input("x", ElementType.Float, 3);
        var y = b.Op("Relu", [x]);
        var z = b.Op("Neg", [y]);
        foreach (var (value, name) in new[] { (y, "relu_out"), (z, "neg_out"), (x, "x_copy"), (y, "relu_again") })
        {
            var n = new NodeProto { OpType = "Identity", Name = "id_" + name };
            n.Input.Add(value);
            n.Output.Add(name);
            b.Graph.Node.Add(n);
            b.Output(name, ElementType.Float, 3);
        }
        var before = OnnxModel.Create(b.Graph.Clone());
        TrainingArtifacts.ElideOutputIdentities(b.Graph);
        var after = OnnxModel.Create(b.Graph);
        // relu_out and neg_out are now written by Relu and Neg; the copy of the input x and the second name for y stay.
        Assert.Equal(["id_x_copy", "id_relu_again"], after.Graph.Node.Where(n => n.OpType == "Identity").Select(n => n.Name));
        Assert.Contains(after.Graph.Node, n => n.OpType == "Relu" && n.Output[0] == "relu_out");
        Assert.Contains(after.Graph.Node, n => n.OpType == "Neg" && n.Input[0] == "relu_out" && n.Output[0] == "neg_out");
        float[] input = [-1f, 0.5f, 2f];
        using var s0 = new Ort(before);
        using var s1 = new Ort(after);
        var r0 = s0.Run([Ort.F("x", input, 3)]);
        var r1 = s1.Run([Ort.F("x", input, 3)]);
        foreach (var name in new[] { "relu_out", "neg_out", "x_copy", "relu_again" })
            Assert.Equal((float[])r0[name], (float[])r1[name]);
    }

    [Fact]
    public void CompiledCnnStepHasNoOutputIdentitiesLeftAndOneFusedOptimizerUpdate()
    {
        var set = TrainingArtifacts.Compile(SmallCnn.Build(10, 1, 28, 28, seed: 0), new ArtifactOptions());
        var g = set.TrainingModel.Graph;
        var outputs = g.Output.Select(o => o.Name).ToHashSet();
        var inputs = g.Input.Select(i => i.Name).ToHashSet();
        Assert.DoesNotContain(g.Node, n => n.OpType == "Identity" && outputs.Contains(n.Output[0]) && !inputs.Contains(n.Input[0]));
        Assert.Single(g.Node, n => n.OpType == "Split");
        Assert.Single(g.Node, n => n.OpType == "Sqrt"); // Adam's denominator, once for all parameters
    }

    [Fact]
    public void ForcedConvWeightGradMethodIsHonouredAndGivesTheSameGradients()
    {
        var cnn = SmallCnn.Build(10, 1, 28, 28, seed: 0);
        var sliced = TrainingArtifacts.Compile(cnn, new ArtifactOptions { Gradients = new Acwa.Onnx.Autodiff.GradientOptions { ConvWeightGrad = Acwa.Onnx.Autodiff.ConvWeightGradMethod.SlicedPatchesMatMul } }, exposeGradients: true);
        var im2col = TrainingArtifacts.Compile(cnn, new ArtifactOptions { Gradients = new Acwa.Onnx.Autodiff.GradientOptions { ConvWeightGrad = Acwa.Onnx.Autodiff.ConvWeightGradMethod.Im2ColConvMatMul } }, exposeGradients: true);
        // 9 tap slices per convolution (2) instead of one im2col Conv each
        Assert.Equal(18, sliced.TrainingModel.Graph.Node.Count(n => n.OpType == "Slice") - im2col.TrainingModel.Graph.Node.Count(n => n.OpType == "Slice"));
        Assert.Equal(2, im2col.TrainingModel.Graph.Node.Count(n => n.OpType == "Conv") - sliced.TrainingModel.Graph.Node.Count(n => n.OpType == "Conv"));
        var rng = new Random(5);
        var x = Enumerable.Range(0, 4 * 784).Select(_ => (float)rng.NextDouble()).ToArray();
        var y = Enumerable.Range(0, 4).Select(_ => (long)rng.Next(10)).ToArray();
        using var a = new HostStepLoop(sliced);
        using var b = new HostStepLoop(im2col);
        a.Step(x, y);
        b.Step(x, y);
        foreach (var p in new[] { "conv1.weight", "conv2.weight" })
        {
            var ga = (float[])a.Last["grad." + p]; var gb = (float[])b.Last["grad." + p];
            float scale = ga.Max(MathF.Abs);
            for (int k = 0; k < ga.Length; k++) Assert.True(MathF.Abs(ga[k] - gb[k]) <= 1e-5f * scale, $"{p}[{k}]: {ga[k]} vs {gb[k]}");
        }
    }

    [Fact]
    public void TinyLossGradientsAreFlushedToZeroAndEverythingElseIsKept()
    {
        var b = new GraphBuilder("flush");
        var d = b.Input("d", ElementType.Float, 8);
        b.Output(StepGraph.FlushTiny(b, d, 1e-30f), ElementType.Float, 8);
        float subnormal = BitConverter.Int32BitsToSingle(5);
        float[] input = [1e-31f, -1e-35f, subnormal, 1e-30f, -2e-30f, -0.5f, 3e-8f, 0f];
        using var s = new Ort(OnnxModel.Create(b.Graph));
        var output = (float[])s.Run([Ort.F("d", input, 8)]).Values.Single();
        Assert.Equal([0f, 0f, 0f, 1e-30f, -2e-30f, -0.5f, 3e-8f, 0f], output);

        var mlp = TestModels.Mlp([4, 6, 3], 1);
        static int Flushes(ArtifactSet a) => a.TrainingModel.Graph.Node.Count(n => n.OpType == "Abs");
        Assert.Equal(1, Flushes(TrainingArtifacts.Compile(mlp, new ArtifactOptions())));
        Assert.Equal(0, Flushes(TrainingArtifacts.Compile(mlp, new ArtifactOptions { FlushGradientsBelow = 0 })));
        var e = Assert.Throws<ArgumentException>(() => TrainingArtifacts.Compile(mlp, new ArtifactOptions { FlushGradientsBelow = -1 }));
        Assert.Contains("FlushGradientsBelow", e.Message);
    }
}
