using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Import;
using Acwa.Onnx.Models;

namespace Acwa.Onnx.Tests.Models;

public class TorchImportTests
{
    public static TheoryData<string> Fixtures => ["tiny_mlp", "tiny_cnn", "tiny_resnet"];

    // Exported by tools/export_torch_fixtures.py with torch 1.13 at opset 17; upgraded here to 18 and run in ORT.
    [Theory]
    [MemberData(nameof(Fixtures))]
    public void UpgradedFixtureMatchesPyTorchEvalLogits(string name)
    {
        var model = OnnxModel.Load(ModelTestUtil.Fixture($"{name}.onnx"));
        Assert.Equal(17, OpsetUpgrade.DefaultOpset(model));
        var upgraded = OpsetUpgrade.ToOpset18(model);
        Assert.Equal(18, OpsetUpgrade.DefaultOpset(upgraded));
        var x = Npy.Read(ModelTestUtil.Fixture($"{name}/x.npy"));
        var expected = Npy.Read(ModelTestUtil.Fixture($"{name}/logits_eval.npy"));
        var (logits, dims) = ModelTestUtil.Run(upgraded, x.Floats(), x.Shape.Select(d => (int)d).ToArray());
        Assert.Equal(expected.Shape.Select(d => (int)d), dims);
        double err = ModelTestUtil.MaxScaledError(logits, expected.Floats());
        Assert.True(err <= 1e-5, $"{name}: max scaled error {err}");
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void FixtureParametersAndBuffersKeepPyTorchNames(string name)
    {
        var index = ModelTestUtil.Index($"{name}/index.json");
        var model = OnnxModel.Load(ModelTestUtil.Fixture($"{name}.onnx"));
        var parameters = index.GetProperty("parameters").EnumerateArray().Select(e => e.GetString()!).ToList();
        var buffers = index.GetProperty("buffers").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(parameters.Order(StringComparer.Ordinal), ModelParameters.TrainableNames(model).Order(StringComparer.Ordinal));
        Assert.Equal(buffers.Order(StringComparer.Ordinal), ModelParameters.BufferNames(model).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ReduceMeanAxesBecomeAnInputInTheResidualFixture()
    {
        var model = OpsetUpgrade.ToOpset18(OnnxModel.Load(ModelTestUtil.Fixture("tiny_resnet.onnx")));
        var reduce = model.Graph.Node.Single(n => n.OpType == "ReduceMean");
        Assert.Null(reduce.FindAttribute("axes"));
        var axes = model.Graph.Initializer.Single(t => t.Name == reduce.Input[1]);
        Assert.Equal(new long[] { 2, 3 }, Tensors.ToInt64s(axes));
    }
}
