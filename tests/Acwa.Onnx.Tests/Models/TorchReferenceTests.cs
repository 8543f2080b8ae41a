using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Tests.Models;

/// <summary>
/// Checks that the committed PyTorch references mean what their index says (weighted CE with PyTorch's mean,
/// SGD / Adam / AdamW first steps from the committed gradients), so the training-step tests built on them compare
/// against the documented conventions.
/// </summary>
public class TorchReferenceTests
{
    public static TheoryData<string> Fixtures => ["tiny_mlp", "tiny_cnn", "tiny_resnet"];

    private static float[] Load(string name, string key) => Npy.Read(ModelTestUtil.Fixture($"{name}/{key}.npy")).Floats();

    private static double WeightedCe(float[] logits, long[] y, float[] w)
    {
        int n = y.Length, c = w.Length;
        double num = 0, den = 0;
        for (int i = 0; i < n; i++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < c; j++) max = Math.Max(max, logits[i * c + j]);
            double sum = 0;
            for (int j = 0; j < c; j++) sum += Math.Exp(logits[i * c + j] - max);
            double nll = -(logits[i * c + y[i]] - max - Math.Log(sum));
            num += w[y[i]] * nll;
            den += w[y[i]];
        }
        return num / den;
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void LossesAreWeightedCrossEntropyOfTheLogits(string name)
    {
        var index = ModelTestUtil.Index($"{name}/index.json");
        var y = Npy.Read(ModelTestUtil.Fixture($"{name}/y.npy")).Int64s();
        var w = Load(name, "w");
        Assert.Equal(index.GetProperty("loss_eval").GetDouble(), WeightedCe(Load(name, "logits_eval"), y, w), 5);
        Assert.Equal(index.GetProperty("loss_train").GetDouble(), WeightedCe(Load(name, "logits_train"), y, w), 5);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void OptimizerStepsFollowTheDocumentedFirstStepFormulas(string name)
    {
        var model = OnnxModel.Load(ModelTestUtil.Fixture($"{name}.onnx"));
        var index = ModelTestUtil.Index($"{name}/index.json");
        foreach (var p in index.GetProperty("parameters").EnumerateArray().Select(e => e.GetString()!))
        {
            var theta = Tensors.ToFloats(model.Graph.Initializer.Single(t => t.Name == p));
            var g = Load(name, $"grad/{p}");
            var sgd = Load(name, $"sgd/{p}");
            var adam = Load(name, $"adam/{p}");
            var adamw = Load(name, $"adamw/{p}");
            for (int i = 0; i < theta.Length; i++)
            {
                // SGD, first step: buf = g + wd theta; theta -= lr buf.
                double expectSgd = theta[i] - 0.1 * (g[i] + 1e-4 * theta[i]);
                // Adam, first step: bias-corrected m = g, v = g^2.
                double expectAdam = theta[i] - 1e-3 * g[i] / (Math.Abs((double)g[i]) + 1e-8);
                double expectAdamW = theta[i] * (1 - 1e-3 * 1e-2) - 1e-3 * g[i] / (Math.Abs((double)g[i]) + 1e-8);
                Assert.True(Math.Abs(sgd[i] - expectSgd) <= 1e-6 * Math.Max(1, Math.Abs(expectSgd)), $"{name} sgd {p}[{i}]");
                Assert.True(Math.Abs(adam[i] - expectAdam) <= 1e-6 * Math.Max(1, Math.Abs(expectAdam)), $"{name} adam {p}[{i}]");
                Assert.True(Math.Abs(adamw[i] - expectAdamW) <= 1e-6 * Math.Max(1, Math.Abs(expectAdamW)), $"{name} adamw {p}[{i}]");
            }
        }
    }

    // The first batch norm sees the same input in eval and train mode, so its batch statistics can be computed
    // here from the ORT-run eval graph: running = 0.9 running + 0.1 batch (ONNX momentum 0.9), variance unbiased.
    [Theory]
    [InlineData("tiny_cnn", "bn")]
    [InlineData("tiny_resnet", "bn1")]
    public void RunningStatsAreMomentumUpdatesWithUnbiasedVariance(string name, string bn)
    {
        var model = Acwa.Onnx.Graphs.Import.OpsetUpgrade.ToOpset18(OnnxModel.Load(ModelTestUtil.Fixture($"{name}.onnx")));
        var node = model.Graph.Node.Single(n => n.OpType == "BatchNormalization" && n.Input[1] == $"{bn}.weight");
        model.Graph.Output.Clear();
        model.Graph.Output.Add(GraphBuilder.ValueInfo(node.Input[0], ElementType.Float, null, null, null, null));
        var x = Npy.Read(ModelTestUtil.Fixture($"{name}/x.npy"));
        var (h, dims) = ModelTestUtil.Run(model, x.Floats(), x.Shape.Select(d => (int)d).ToArray());
        int n = dims[0], c = dims[1], hw = dims[2] * dims[3], m = n * hw;
        var oldMean = Tensors.ToFloats(model.Graph.Initializer.Single(t => t.Name == $"{bn}.running_mean"));
        var oldVar = Tensors.ToFloats(model.Graph.Initializer.Single(t => t.Name == $"{bn}.running_var"));
        var newMean = Load(name, $"running/{bn}.running_mean");
        var newVar = Load(name, $"running/{bn}.running_var");
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0, sq = 0;
            for (int i = 0; i < n; i++)
                for (int k = 0; k < hw; k++) sum += h[(i * c + ch) * hw + k];
            double mu = sum / m;
            for (int i = 0; i < n; i++)
                for (int k = 0; k < hw; k++) { double d = h[(i * c + ch) * hw + k] - mu; sq += d * d; }
            Assert.Equal(0.9 * oldMean[ch] + 0.1 * mu, newMean[ch], 5);
            Assert.Equal(0.9 * oldVar[ch] + 0.1 * sq / (m - 1), newVar[ch], 5);
        }
    }
}
