using Acwa.Onnx.Graphs;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;

namespace Acwa.Onnx.Tests.Training.Compiler;

/// <summary>
/// Three training steps of a PyTorch-exported model (Linear-BatchNorm1d-ReLU-Linear, opset 17, inference form) against
/// PyTorch's own steps (class-weighted CE; SGD Nesterov + wd, Adam + L2, AdamW): losses and final parameters and
/// batch-norm running statistics. Reference numbers from make_torch_parity.py (TorchParityFixture.cs).
/// </summary>
public class TorchParityTests
{
    public static TheoryData<string> CaseNames => ["sgd", "adam", "adamw"];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void StepsMatchPyTorch(string name)
    {
        var forward = OnnxModel.FromBytes(Convert.FromBase64String(TorchParityFixture.ModelBase64));
        var o = name switch
        {
            "sgd" => new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0.1f, Momentum = 0.9f, Nesterov = true, WeightDecay = 0.01f },
            "adam" => new ArtifactOptions { Optimizer = OptimizerKind.Adam, LearningRate = 0.01f, WeightDecay = 0.01f },
            _ => new ArtifactOptions { Optimizer = OptimizerKind.AdamW, LearningRate = 0.01f, WeightDecay = 0.1f },
        };
        var set = TrainingArtifacts.Compile(forward, o with { ClassWeights = TorchParityFixture.ClassWeights });
        Assert.Equal(["bn.running_mean", "bn.running_var"], set.Manifest.State.Where(s => s.Kind == StateKind.Buffer).Select(s => s.Name));
        var (losses, final) = TorchParityFixture.Cases[name];
        using var r = new HostStepLoop(set);
        for (int s = 0; s < 3; s++)
        {
            float loss = r.Step(TorchParityFixture.X[s], TorchParityFixture.Y[s]);
            Assert.True(Math.Abs(losses[s] - loss) <= 1e-5 * (1 + Math.Abs(losses[s])), $"{name} step {s + 1}: PyTorch loss {losses[s]}, ours {loss}");
        }
        foreach (var (tensor, expected) in final)
        {
            var got = r.State[tensor].Data!;
            for (int k = 0; k < expected.Length; k++)
                Assert.True(Math.Abs(expected[k] - got[k]) <= 2e-5 * (1 + Math.Abs(expected[k])), $"{name}: {tensor}[{k}] PyTorch {expected[k]}, ours {got[k]}");
        }
    }
}
