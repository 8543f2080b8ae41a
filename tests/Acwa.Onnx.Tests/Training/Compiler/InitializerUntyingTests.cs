using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Training.Compiler;

namespace Acwa.Onnx.Tests.Training.Compiler;

public class InitializerUntyingTests
{
    [Theory]
    [InlineData("/layer1/layer1.0/conv1/Conv", "Conv", 1, "layer1.0.conv1.weight")]
    [InlineData("/features/features.0/features.0.0/Conv", "Conv", 2, "features.0.0.bias")]
    [InlineData("/3/block/block.1/BatchNormalization", "BatchNormalization", 3, "3.block.1.running_mean")]
    [InlineData("/bn1/BatchNormalization", "BatchNormalization", 4, "bn1.running_var")]
    [InlineData("/MatMul", "MatMul", 1, null)]            // no module scope, and MatMul's weight slot has no torch name
    [InlineData("/fc/Gemm", "Gemm", 1, "fc.weight")]
    public void TorchNamesFollowTheExportersScopeNames(string node, string op, int slot, string? expected) =>
        Assert.Equal(expected, InitializerUntying.TorchName(new NodeProto { Name = node, OpType = op }, slot));

    [Fact]
    public void EveryDeduplicatedInitializerBecomesItsOwnNamedAfterItsLayer()
    {
        // torch.onnx merged the fresh batch norms' ones/zeros: block.bn1 and block.bn2 read bn1's scale and bias, and every
        // running statistic is an Identity of one of them.
        var forward = Acwa.Onnx.Graphs.Import.OpsetUpgrade.ToOpset18(OnnxModel.Load(Models.ModelTestUtil.Fixture("tiny_resnet_fresh.onnx")));
        Assert.Contains(forward.Graph.Node, n => n.OpType == "Identity");
        var untied = InitializerUntying.Apply(forward);
        Assert.DoesNotContain(untied.Graph.Node, n => n.OpType == "Identity" && untied.Graph.Initializer.Any(t => t.Name == n.Input[0]));
        var names = untied.Graph.Initializer.Select(t => t.Name).ToHashSet();
        foreach (var bn in new[] { "bn1", "block.bn1", "block.bn2" })
            foreach (var p in new[] { "weight", "bias", "running_mean", "running_var" })
                Assert.Contains($"{bn}.{p}", names);
        Assert.Contains(forward.Graph.Node, n => n.OpType == "Identity"); // the input model is not changed
        var set = TrainingArtifacts.Compile(forward, new ArtifactOptions());
        Assert.Equal(6, set.Manifest.State.Count(s => s.Kind == Acwa.Onnx.Training.StateKind.Buffer));
    }
}
