using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Import;
using Acwa.Onnx.Tests.Training.Compiler;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Models;

/// <summary>
/// Whole-model check against PyTorch: each exported fixture (tiny MLP, CNN, ResNet - also with its batch norms as
/// initialised, which torch.onnx exports as Identities of one shared initializer -, MobileNetV3-style net, one-block
/// ViT; opset 17, upgraded to 18) is compiled into a
/// training-step graph (weighted CE, BN on batch statistics) and run once in ORT from its exported parameters;
/// the loss, train-mode logits, every parameter gradient, the BN running statistics and the parameters after one
/// SGD / Adam / AdamW step must match tools/export_torch_fixtures.py's float64 PyTorch references.
/// </summary>
public class TorchTrainingStepTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;
    private double _worst;
    private string _worstWhat = "";

    public static TheoryData<string, string> Cases
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var f in new[] { "tiny_mlp", "tiny_cnn", "tiny_resnet", "tiny_resnet_fresh", "tiny_mobilenet", "tiny_vit", "tiny_conv1d", "tiny_normed", "tiny_text", "tiny_lstm", "tiny_gru", "tiny_rnn" })
                foreach (var o in new[] { "sgd", "adam", "adamw" }) data.Add(f, o);
            return data;
        }
    }

    private static ArtifactOptions Options(string optimizer, float[] classWeights) => optimizer switch
    {
        // The hyper-parameters of the references (index.json): SGD lr 0.1, momentum 0.9, wd 1e-4, no Nesterov;
        // Adam lr 1e-3; AdamW lr 1e-3, wd 1e-2; betas 0.9 / 0.999, eps 1e-8.
        "sgd" => new ArtifactOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 0.1f, Momentum = 0.9f, WeightDecay = 1e-4f, ClassWeights = classWeights },
        "adam" => new ArtifactOptions { Optimizer = OptimizerKind.Adam, LearningRate = 1e-3f, ClassWeights = classWeights },
        "adamw" => new ArtifactOptions { Optimizer = OptimizerKind.AdamW, LearningRate = 1e-3f, WeightDecay = 1e-2f, ClassWeights = classWeights },
        _ => throw new ArgumentException(optimizer),
    };

    /// <summary>max |a - b| / max |b| over the tensor.</summary>
    private static double RelativeError(float[] actual, float[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double diff = 0, scale = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs((double)actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs((double)expected[i]));
        }
        return diff / Math.Max(scale, 1e-12);
    }

    private void Close(string what, float[] actual, float[] expected, double tolerance = Tolerance)
    {
        double e = RelativeError(actual, expected);
        if (tolerance == Tolerance && e > _worst) (_worst, _worstWhat) = (e, what);
        Assert.True(e <= tolerance, $"{what}: relative error {e:G3} > {tolerance:G3}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void OneCompiledStepMatchesPyTorch(string fixture, string optimizer) => CheckStep(fixture, optimizer, "cpu");

    /// <summary>
    /// The graphs compiled for CUDA (its gradient decompositions, and the exports' host shape arithmetic folded away:
    /// the ViT's chunk bounds become constants, its class-token Expand a device-side broadcast) pass the placement
    /// check and, run here on the CPU EP, still match PyTorch.
    /// </summary>
    [Theory]
    [InlineData("tiny_vit")]
    [InlineData("tiny_mobilenet")]
    [InlineData("tiny_resnet")]
    [InlineData("tiny_conv1d")]
    [InlineData("tiny_normed")]
    [InlineData("tiny_text")]
    [InlineData("tiny_lstm")]
    [InlineData("tiny_gru")]
    public void StepCompiledForCudaMatchesPyTorchOnTheCpu(string fixture) => CheckStep(fixture, "adam", "cuda");

    /// <summary>
    /// <see cref="ArtifactOptions.FrozenBatchNorm"/> with every batch-norm scale and bias frozen: the batch norms run in
    /// inference mode (no buffers left in the state), and loss, logits and every other parameter's gradient match PyTorch
    /// with its BatchNorm modules in eval() and their parameters frozen (the usual frozen-backbone fine-tuning setting).
    /// </summary>
    [Theory]
    [InlineData("tiny_cnn", "cpu")]
    [InlineData("tiny_resnet", "cpu")]
    [InlineData("tiny_mobilenet", "cpu")]
    [InlineData("tiny_resnet", "cuda")]
    [InlineData("tiny_resnet_fresh", "cpu")]
    [InlineData("tiny_conv1d", "cpu")]
    public void FrozenBatchNormStepMatchesPyTorchWithBatchNormInEvalMode(string fixture, string device)
    {
        float[] Ref(string key) => Npy.Read(ModelTestUtil.Fixture($"{fixture}/{key}.npy")).Floats();
        var frozenBn = ModelTestUtil.Index($"{fixture}/index.json").GetProperty("frozen_bn");
        var forward = OpsetUpgrade.ToOpset18(OnnxModel.Load(ModelTestUtil.Fixture($"{fixture}.onnx")));
        var x = Npy.Read(ModelTestUtil.Fixture($"{fixture}/x.npy"));
        var y = Npy.Read(ModelTestUtil.Fixture($"{fixture}/y.npy")).Int64s();
        var frozen = frozenBn.GetProperty("frozen").EnumerateArray().Select(e => e.GetString()!).ToList();
        var parameters = frozenBn.GetProperty("parameters").EnumerateArray().Select(e => e.GetString()!).ToList();

        var options = Options("sgd", Ref("w")) with { Device = Device.Parse(device), Frozen = frozen, FrozenBatchNorm = true };
        var set = TrainingArtifacts.Compile(forward, options, exposeGradients: true);
        Assert.Equal(parameters.Order(StringComparer.Ordinal),
            set.Manifest.State.Where(s => s.Kind == StateKind.Parameter).Select(s => s.Name).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(set.Manifest.State, s => s.Kind == StateKind.Buffer);
        Assert.DoesNotContain(set.TrainingModel.Graph.Node, n => n.DocString == Acwa.Onnx.Autodiff.TrainingRewrite.BatchNormMarker);

        using var runner = new HostStepLoop(set);
        float loss = runner.Step(x.Floats(), y);
        double expectedLoss = frozenBn.GetProperty("loss").GetDouble();
        Assert.True(Math.Abs(loss - expectedLoss) <= Tolerance * Math.Abs(expectedLoss), $"loss {loss} vs PyTorch {expectedLoss}");
        Close("logits", (float[])runner.Last[set.Manifest.LogitsOutput], Ref("frozen_bn/logits"));
        foreach (var p in parameters) Close($"gradient of {p}", (float[])runner.Last["grad." + p], Ref($"frozen_bn/grad/{p}"));
        output.WriteLine($"{fixture}/{device} frozen batch norm: loss {loss} (PyTorch {expectedLoss}); largest relative error {_worst:G3} ({_worstWhat})");
    }

    /// <summary>
    /// Elements whose true gradient is zero by structure (an attention key bias: softmax ignores a shift shared by all
    /// keys; float64 reference |g| &lt;= 1e-12) but not exactly zero in float32 get from Adam / AdamW a step of
    /// lr g / (|g| + eps) with g whatever float32 rounding left (~1e-10 here against eps 1e-8): noise that PyTorch's own
    /// float32 run has too. Those elements are checked to move by at most lr (Adam's bound), then copied from the
    /// reference so that the tensor comparison judges the others. Exact zeros (unused embedding rows, dead units) stay in
    /// the comparison: their step must be zero like the reference's.
    /// </summary>
    private void SetAsideZeroGradients(string name, float[] gradRef, float[] grad, float[] before, float[] actual, float[] expected, float lr)
    {
        int aside = 0;
        for (int i = 0; i < gradRef.Length; i++)
        {
            if (Math.Abs(gradRef[i]) > 1e-12 || grad[i] == 0) continue;
            double step = Math.Abs((double)actual[i] - before[i]);
            Assert.True(step <= 1.01 * lr + 1e-7, $"{name}[{i}]: zero-gradient element moved {step:G3} > lr {lr}");
            actual[i] = expected[i];
            aside++;
        }
        if (aside > 0) output.WriteLine($"{name}: {aside} of {gradRef.Length} elements have a structurally zero gradient; Adam's step there is float32 noise (at most lr), set aside");
    }

    /// <summary>
    /// <see cref="GradientOptions.FusedRecurrent"/> true: the recurrent node keeps ORT's fused kernel in the forward and its
    /// gradient is a reverse-time Scan (the CPU default); false: it is unrolled (the CUDA default). Either way the whole
    /// step matches PyTorch (tiny_lstm: 2-layer bidirectional; tiny_gru: two layers, linear_before_reset 1; tiny_rnn:
    /// bidirectional, ReLU).
    /// </summary>
    [Theory]
    [InlineData("tiny_lstm", "adam", "cpu", true)]
    [InlineData("tiny_lstm", "sgd", "cpu", true)]
    [InlineData("tiny_lstm", "adam", "cuda", true)]
    [InlineData("tiny_lstm", "adam", "cpu", false)]
    [InlineData("tiny_lstm", "sgd", "cpu", false)]
    [InlineData("tiny_gru", "adam", "cpu", true)]
    [InlineData("tiny_gru", "sgd", "cpu", true)]
    [InlineData("tiny_gru", "adam", "cuda", true)]
    [InlineData("tiny_gru", "adam", "cpu", false)]
    [InlineData("tiny_rnn", "adam", "cpu", true)]
    [InlineData("tiny_rnn", "sgd", "cpu", true)]
    [InlineData("tiny_rnn", "adam", "cpu", false)]
    public void RecurrentStepMatchesPyTorchFusedOrUnrolled(string fixture, string optimizer, string device, bool fused) =>
        CheckStep(fixture, optimizer, device, fusedRecurrent: fused);

    private void CheckStep(string fixture, string optimizer, string device, bool? fusedRecurrent = null)
    {
        float[] Ref(string key) => Npy.Read(ModelTestUtil.Fixture($"{fixture}/{key}.npy")).Floats();
        var index = ModelTestUtil.Index($"{fixture}/index.json");
        var forward = OpsetUpgrade.ToOpset18(OnnxModel.Load(ModelTestUtil.Fixture($"{fixture}.onnx")));
        var x = Npy.Read(ModelTestUtil.Fixture($"{fixture}/x.npy"));
        var y = Npy.Read(ModelTestUtil.Fixture($"{fixture}/y.npy")).Int64s();

        var options = Options(optimizer, Ref("w")) with { Device = Device.Parse(device) };
        if (fusedRecurrent is { } fused) options = options with { Gradients = new GradientOptions { FusedRecurrent = fused } };
        var set = TrainingArtifacts.Compile(forward, options, exposeGradients: true);
        if (fusedRecurrent is { } f)
        {
            Assert.Equal(f, set.TrainingModel.Graph.Node.Any(n => n.OpType is "LSTM" or "GRU" or "RNN"));
            Assert.Equal(f, set.TrainingModel.Graph.Node.Any(n => n.OpType == "Scan"));
        }
        var parameters = index.GetProperty("parameters").EnumerateArray().Select(e => e.GetString()!).ToList();
        var buffers = index.GetProperty("buffers").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(parameters.Order(StringComparer.Ordinal),
            set.Manifest.State.Where(s => s.Kind == StateKind.Parameter).Select(s => s.Name).Order(StringComparer.Ordinal));
        Assert.Equal(buffers.Order(StringComparer.Ordinal),
            set.Manifest.State.Where(s => s.Kind == StateKind.Buffer).Select(s => s.Name).Order(StringComparer.Ordinal));

        using var runner = new HostStepLoop(set);
        var before = runner.State.ToDictionary(kv => kv.Key, kv => kv.Value.Data!);
        float loss = x.Dtype == "<i8" ? runner.Step(x.Int64s(), y) : runner.Step(x.Floats(), y); // token ids or features

        double expectedLoss = index.GetProperty("loss_train").GetDouble();
        Assert.True(Math.Abs(loss - expectedLoss) <= Tolerance * Math.Abs(expectedLoss), $"loss {loss} vs PyTorch {expectedLoss}");
        Close("train-mode logits", (float[])runner.Last[set.Manifest.LogitsOutput], Ref("logits_train"));
        foreach (var p in parameters)
        {
            var gradRef = Ref($"grad/{p}");
            var grad = (float[])runner.Last["grad." + p];
            Close($"gradient of {p}", grad, gradRef);
            var expected = Ref($"{optimizer}/{p}");
            if (optimizer != "sgd") SetAsideZeroGradients(p, gradRef, grad, before[p], runner.State[p].Data!, expected, Options(optimizer, []).LearningRate);
            Close($"{optimizer} step of {p}", runner.State[p].Data!, expected);
            // The update itself (new - old), so that a wrong step cannot hide behind the parameter's magnitude.
            var delta = runner.State[p].Data!.Zip(before[p], (a, b) => a - b).ToArray();
            var expectedDelta = expected.Zip(before[p], (a, b) => a - b).ToArray();
            Close($"{optimizer} update of {p}", delta, expectedDelta, 1e-3);
        }
        foreach (var b in buffers) Close($"running statistic {b}", runner.State[b].Data!, Ref($"running/{b}"));
        output.WriteLine($"{fixture}/{optimizer}/{device}: loss {loss} (PyTorch {expectedLoss}); largest relative error {_worst:G3} ({_worstWhat})");
    }
}
