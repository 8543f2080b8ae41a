using Acwa.Onnx.Models;
using Acwa.Onnx.Tests.Training.Compiler;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;

namespace Acwa.Onnx.Tests.Models;

/// <summary>
/// Our ResNet builder compiled into a training-step graph gives PyTorch's loss, gradients and running statistics
/// for the same architecture and weights (ResNet-8 on 3x8x8, pattern weights, one training-mode forward /
/// backward; references from tools/export_torch_fixtures.py, which also holds them for shortcut A).
/// </summary>
public class ResNetTrainingStepTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Theory]
    [InlineData(ResNetShortcut.A)]
    [InlineData(ResNetShortcut.B)]
    public void ResNet8StepMatchesPyTorch(ResNetShortcut shortcut)
    {
        var index = ModelTestUtil.Index("builtin/index.json").GetProperty($"resnet8_{shortcut}_train");
        float[] Ref(string key) => Npy.Read(ModelTestUtil.Fixture($"builtin/resnet8_{shortcut}/{key}.npy")).Floats();
        var model = ResNetCifar.Build(8, classes: 10, shortcut: shortcut, channels: 3, height: 8, width: 8);
        model = ModelParameters.WithParameters(model, PatternWeights.ForModel(model));

        var set = TrainingArtifacts.Compile(model, new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0.1f, ClassWeights = Ref("w") }, exposeGradients: true);
        var parameters = index.GetProperty("parameters").EnumerateArray().Select(e => e.GetString()!).ToList();
        var buffers = index.GetProperty("buffers").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(parameters.Order(StringComparer.Ordinal), ModelParameters.TrainableNames(model).Order(StringComparer.Ordinal));

        using var runner = new HostStepLoop(set);
        float loss = runner.Step(Ref("x"), Npy.Read(ModelTestUtil.Fixture($"builtin/resnet8_{shortcut}/y.npy")).Int64s());
        double expectedLoss = index.GetProperty("loss_train").GetDouble();
        Assert.True(Math.Abs(loss - expectedLoss) <= 1e-4 * Math.Abs(expectedLoss), $"loss {loss} vs PyTorch {expectedLoss}");

        double worst = 0;
        string worstWhat = "";
        void Close(string what, float[] actual, float[] expected)
        {
            Assert.Equal(expected.Length, actual.Length);
            double diff = 0, scale = 0;
            for (int i = 0; i < actual.Length; i++)
            {
                diff = Math.Max(diff, Math.Abs((double)actual[i] - expected[i]));
                scale = Math.Max(scale, Math.Abs((double)expected[i]));
            }
            double e = diff / Math.Max(scale, 1e-12);
            if (e > worst) (worst, worstWhat) = (e, what);
            Assert.True(e <= 1e-4, $"{what}: relative error {e:G3}");
        }
        foreach (var p in parameters) Close($"gradient of {p}", (float[])runner.Last["grad." + p], Ref($"grad/{p}"));
        foreach (var b in buffers) Close($"running statistic {b}", runner.State.Single(kv => kv.Key == b).Value.Data!, Ref($"running/{b}"));
        Assert.Equal(buffers.Count, set.Manifest.State.Count(s => s.Kind == StateKind.Buffer));
        output.WriteLine($"resnet8_{shortcut}: loss {loss} (PyTorch {expectedLoss}); largest relative error {worst:G3} ({worstWhat})");
    }
}
