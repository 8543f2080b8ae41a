using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Models;

namespace Acwa.Onnx.Tests.Models;

public class ModelBuilderTests
{
    private static float[] Ramp(int n) => Enumerable.Range(0, n).Select(i => (float)Math.Sin(i * 0.37)).ToArray();

    public static TheoryData<string> Builds => ["mlp", "mlp_64_32", "cnn_1x28x28", "cnn_3x32x32", "resnet20_A", "resnet20_B", "resnet32_A"];

    private static (ModelProto Model, int[] InputShape, int Classes) Make(string key, int seed = 0) => key switch
    {
        "mlp" => (Mlp.Build(seed: seed), [3, 1, 28, 28], 10),
        "mlp_64_32" => (Mlp.Build(classes: 4, hidden: [64, 32], channels: 3, height: 8, width: 8, seed: seed), [3, 3, 8, 8], 4),
        "cnn_1x28x28" => (SmallCnn.Build(seed: seed), [3, 1, 28, 28], 10),
        "cnn_3x32x32" => (SmallCnn.Build(classes: 7, channels: 3, height: 32, width: 32, seed: seed), [2, 3, 32, 32], 7),
        "resnet20_A" => (ResNetCifar.Build(20, seed: seed), [2, 3, 32, 32], 10),
        "resnet20_B" => (ResNetCifar.Build(20, shortcut: ResNetShortcut.B, seed: seed), [2, 3, 32, 32], 10),
        "resnet32_A" => (ResNetCifar.Build(32, classes: 100, seed: seed), [2, 3, 32, 32], 100),
        _ => throw new ArgumentException(key),
    };

    [Theory]
    [MemberData(nameof(Builds))]
    public void BuildsAndRunsInOrtWithLogitsShape(string key)
    {
        var (model, shape, classes) = Make(key);
        Assert.Equal(OnnxModel.DefaultOpset, model.OpsetImport.Single().Version);
        Assert.Equal(ModelNames.Input, model.Graph.Input.Single().Name);
        Assert.Equal(ModelNames.Output, model.Graph.Output.Single().Name);
        var (logits, dims) = ModelTestUtil.Run(model, Ramp(shape.Aggregate(1, (a, b) => a * b)), shape);
        Assert.Equal(new[] { shape[0], classes }, dims);
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        Assert.True(logits.Distinct().Count() > classes, "logits should differ between samples and classes");
    }

    [Theory]
    [MemberData(nameof(Builds))]
    public void SameSeedGivesByteIdenticalModelAndOtherSeedDiffers(string key)
    {
        var a = OnnxModel.ToBytes(Make(key, seed: 7).Model);
        var b = OnnxModel.ToBytes(Make(key, seed: 7).Model);
        var c = OnnxModel.ToBytes(Make(key, seed: 8).Model);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Theory]
    [InlineData("mlp", "mlp_784_256_10")]
    [InlineData("cnn_1x28x28", "cnn_1x28x28_10")]
    [InlineData("resnet20_A", "resnet20_A_10")]
    [InlineData("resnet20_B", "resnet20_B_10")]
    public void ParameterCountEqualsPyTorchEquivalent(string key, string torchKey)
    {
        var expected = ModelTestUtil.Index("builtin/index.json").GetProperty("parameter_counts").GetProperty(torchKey).GetInt64();
        Assert.Equal(expected, ModelParameters.Count(Make(key).Model));
    }

    [Fact]
    public void ParameterCountsOfDefaultConfigurations()
    {
        var counts = ModelTestUtil.Index("builtin/index.json").GetProperty("parameter_counts");
        Assert.Equal(counts.GetProperty("cnn_3x32x32_10").GetInt64(), ModelParameters.Count(SmallCnn.Build(channels: 3, height: 32, width: 32)));
        Assert.Equal(counts.GetProperty("resnet32_A_10").GetInt64(), ModelParameters.Count(ResNetCifar.Build(32)));
        Assert.Equal(counts.GetProperty("resnet32_B_10").GetInt64(), ModelParameters.Count(ResNetCifar.Build(32, shortcut: ResNetShortcut.B)));
        // The published figures: 0.27M and 0.46M.
        Assert.Equal(269_722, ModelParameters.Count(ResNetCifar.Build(20)));
        Assert.Equal(464_154, ModelParameters.Count(ResNetCifar.Build(32)));
    }

    [Fact]
    public void ResNetNamesFollowPyTorchStateDict()
    {
        var model = ResNetCifar.Build(20, shortcut: ResNetShortcut.B);
        var names = model.Graph.Initializer.Select(t => t.Name).ToHashSet();
        foreach (var n in new[] { "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                     "layer1.0.conv1.weight", "layer1.2.bn2.running_var", "layer2.0.shortcut.0.weight",
                     "layer3.0.shortcut.1.running_mean", "layer3.2.conv2.weight", "fc.weight", "fc.bias" })
            Assert.Contains(n, names);
        var buffers = ModelParameters.BufferNames(model);
        Assert.Contains("layer2.1.bn1.running_mean", buffers);
        Assert.DoesNotContain("layer2.1.bn1.weight", buffers);
        Assert.DoesNotContain(buffers, b => ModelParameters.TrainableNames(model).Contains(b));
        var bn = model.Graph.Node.First(n => n.OpType == "BatchNormalization");
        Assert.Equal(0, bn.GetInt("training_mode", 0));
        Assert.Equal(0.9f, bn.GetFloat("momentum", 0));
        Assert.Equal(1e-5f, bn.GetFloat("epsilon", 0));
    }

    [Fact]
    public void InitialisationMatchesPyTorchDefaults()
    {
        var model = ResNetCifar.Build(20);
        float[] Values(string n) => Tensors.ToFloats(model.Graph.Initializer.Single(t => t.Name == n));
        var w = Values("layer2.0.conv1.weight"); // fan_in 16 * 9
        double bound = 1 / Math.Sqrt(16 * 9);
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.InRange(w.Max(), 0.9 * bound, bound); // fills the range
        Assert.InRange(w.Select(v => (double)v).Average(), -0.05 * bound, 0.05 * bound);
        Assert.All(Values("layer2.0.bn1.weight"), v => Assert.Equal(1f, v));
        Assert.All(Values("layer2.0.bn1.bias"), v => Assert.Equal(0f, v));
        Assert.All(Values("layer2.0.bn1.running_mean"), v => Assert.Equal(0f, v));
        Assert.All(Values("layer2.0.bn1.running_var"), v => Assert.Equal(1f, v));
        var fcBias = Values("fc.bias");
        Assert.All(fcBias, v => Assert.InRange(v, -1 / 8.0, 1 / 8.0));
    }

    // Logits of the same architecture in PyTorch (float64, eval mode) with every tensor filled by the same
    // deterministic pattern (tools/export_torch_fixtures.py), on a fixed input.
    [Theory]
    [InlineData("resnet20_A", "resnet")]
    [InlineData("resnet20_B", "resnet")]
    [InlineData("cnn_1x28x28", "cnn")]
    public void LogitsMatchPyTorchWithSameWeights(string key, string input)
    {
        var model = Make(key).Model;
        model = ModelParameters.WithParameters(model, PatternWeights.ForModel(model));
        var x = Npy.Read(ModelTestUtil.Fixture($"builtin/x_{input}.npy"));
        var expected = Npy.Read(ModelTestUtil.Fixture($"builtin/logits_{key}.npy"));
        var (logits, dims) = ModelTestUtil.Run(model, x.Floats(), x.Shape.Select(d => (int)d).ToArray());
        Assert.Equal(expected.Shape.Select(d => (int)d), dims);
        Assert.True(ModelTestUtil.MaxScaledError(logits, expected.Floats()) <= 1e-4,
            $"max scaled error {ModelTestUtil.MaxScaledError(logits, expected.Floats())}");
    }

    [Fact]
    public void WithParametersRejectsUnknownNameAndWrongSize()
    {
        var model = Mlp.Build(hidden: [4]);
        var e1 = Assert.Throws<ArgumentException>(() => ModelParameters.WithParameters(model, new Dictionary<string, float[]> { ["fc9.weight"] = [1f] }));
        Assert.Contains("fc9.weight", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => ModelParameters.WithParameters(model, new Dictionary<string, float[]> { ["fc1.bias"] = [1f, 2f] }));
        Assert.Contains("fc1.bias", e2.Message);
        Assert.Contains("needs 4 values, got 2", e2.Message);
        var changed = ModelParameters.WithParameters(model, new Dictionary<string, float[]> { ["fc1.bias"] = [1f, 2f, 3f, 4f] });
        Assert.Equal(new[] { 1f, 2f, 3f, 4f }, Tensors.ToFloats(changed.Graph.Initializer.Single(t => t.Name == "fc1.bias")));
        Assert.NotEqual(new[] { 1f, 2f, 3f, 4f }, Tensors.ToFloats(model.Graph.Initializer.Single(t => t.Name == "fc1.bias")));
    }

    [Fact]
    public void BadArgumentsNameTheProblem()
    {
        Assert.Contains("6n + 2", Assert.Throws<ArgumentOutOfRangeException>(() => ResNetCifar.Build(21)).Message);
        Assert.Contains("at least 2 classes", Assert.Throws<ArgumentOutOfRangeException>(() => Mlp.Build(classes: 1)).Message);
        Assert.Contains("hidden layer 1", Assert.Throws<ArgumentOutOfRangeException>(() => Mlp.Build(hidden: [8, 0])).Message);
        Assert.Contains("height must be at least 4", Assert.Throws<ArgumentOutOfRangeException>(() => SmallCnn.Build(height: 3)).Message);
    }
}
