using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Microsoft.ML.OnnxRuntime;
using static Acwa.Onnx.Tests.Autodiff.GradCheck;

namespace Acwa.Onnx.Tests.Autodiff;

public class AutodiffApiTests
{
    /// <summary>A PyTorch-export-like head: Conv -> Relu -> MaxPool -> Shape/Gather/Unsqueeze/Concat -> Reshape -> Gemm.</summary>
    private static (ModelProto Model, string Logits) ExportLikeCnn()
    {
        var b = new GraphBuilder("cnn");
        var rng = new Random(3);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        b.Input("input", ElementType.Float, null, 1, 8, 8);
        var w1 = b.ConstFloat("conv.weight", [4, 1, 3, 3], R(36));
        var b1 = b.ConstFloat("conv.bias", [4], R(4));
        var c = b.Op("Conv", ["input", w1, b1], Attr.Ints("pads", 1, 1, 1, 1), Attr.Ints("kernel_shape", 3, 3));
        var p = b.Op("MaxPool", [b.Op("Relu", [c])], Attr.Ints("kernel_shape", 2, 2), Attr.Ints("strides", 2, 2));
        var shape = b.Op("Shape", [p]);
        var n = b.Op("Gather", [shape, b.Initializer(Tensors.Int64("zero", [], [0]))], Attr.Int("axis", 0));
        var dims = b.Op("Concat", [b.Op("Unsqueeze", [n, b.ConstInt64("ax0", 0)]), b.ConstInt64("minus1", -1)], Attr.Int("axis", 0));
        var flat = b.Op("Reshape", [p, dims]);
        var fw = b.ConstFloat("fc.weight", [3, 64], R(192));
        var fb = b.ConstFloat("fc.bias", [3], R(3));
        var logits = b.OpNamed("Gemm", [flat, fw, fb], "logits", Attr.Int("transB", 1));
        b.Output(logits, ElementType.Float, null, 3);
        return (OnnxModel.Create(b.Graph), logits);
    }

    [Fact]
    public void ShapeProbeRecordsBatchDimsAndTypes()
    {
        var (model, logits) = ExportLikeCnn();
        var s = ShapeProbe.Infer(model, "input", [-1, 1, 8, 8]);
        Assert.Equal([-1L, 3], s[logits]);
        Assert.Equal([4L, 1, 3, 3], s["conv.weight"]);
        var pool = model.Graph.Node.First(n => n.OpType == "MaxPool").Output[0];
        Assert.Equal([-1L, 4, 4, 4], s[pool]);
        var shape = model.Graph.Node.First(n => n.OpType == "Shape").Output[0];
        Assert.Equal(ElementType.Int64, s.TypeOf(shape));
        Assert.Equal([4L], s[shape]);
        Assert.Equal(ElementType.Float, s.TypeOf(logits));
        Assert.False(s.TryGet("nope", out _));
        var e = Assert.Throws<KeyNotFoundException>(() => s["nope"]);
        Assert.Contains("'nope'", e.Message);
        Assert.Empty(model.Graph.ValueInfo); // the model itself is not modified
        Assert.Single(model.Graph.Output);
        Assert.Throws<ArgumentException>(() => ShapeProbe.Infer(model, "missing", [-1, 1, 8, 8]));
        Assert.Throws<ArgumentException>(() => ShapeProbe.Infer(model, "input", [2, 1, 8, 8]));
    }

    [Fact]
    public void ExportLikeCnnGradientsMatchFiniteDifferences()
    {
        var (model, logits) = ExportLikeCnn();
        var s = ShapeProbe.Infer(model, "input", [-1, 1, 8, 8]);
        var gm = model.Clone();
        var b = new GraphBuilder(gm.Graph);
        var dy = b.Input("dlogits", ElementType.Float, null, 3);
        string[] wrt = ["conv.weight", "conv.bias", "fc.weight", "fc.bias"];
        var grads = ReverseMode.Differentiate(b, new Dictionary<string, string> { [logits] = dy }, wrt, s);
        foreach (var w in wrt) b.OutputAs(grads[w], "g_" + w, ElementType.Float);
        // The int shape path carries no gradient.
        Assert.DoesNotContain(gm.Graph.Node.Skip(model.Graph.Node.Count), n => n.OpType == "Gather");

        var rng = new Random(5);
        var x = Enumerable.Range(0, 2 * 64).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var r = Enumerable.Range(0, 6).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        using var gs = new InferenceSession(OnnxModel.ToBytes(gm));
        using var xv = OrtValue.CreateTensorValueFromMemory(x, [2, 1, 8, 8]);
        using var rv = OrtValue.CreateTensorValueFromMemory(r, [2, 3]);
        using var res = gs.Run(SharedRunOptions.Default, ["input", "dlogits"], [xv, rv], wrt.Select(w => "g_" + w).ToArray());
        var analytic = res.Select(v => v.GetTensorDataAsSpan<float>().ToArray()).ToArray();

        // Central differences on a few weights: perturb the initializer, rerun the forward model.
        for (int wi = 0; wi < wrt.Length; wi++)
        {
            var init = model.Graph.Initializer.First(t => t.Name == wrt[wi]);
            var orig = Tensors.ToFloats(init);
            foreach (var k in new[] { 0, orig.Length / 2, orig.Length - 1 })
            {
                double F(float delta)
                {
                    var m = model.Clone();
                    var vals = (float[])orig.Clone();
                    vals[k] += delta;
                    var t = m.Graph.Initializer.First(t => t.Name == wrt[wi]);
                    t.RawData = Tensors.Float(t.Name, t.Dims.ToArray(), vals).RawData;
                    using var fs = new InferenceSession(OnnxModel.ToBytes(m));
                    using var xin = OrtValue.CreateTensorValueFromMemory(x, [2, 1, 8, 8]);
                    using var o = fs.Run(SharedRunOptions.Default, ["input"], [xin], [logits]);
                    var y = o[0].GetTensorDataAsSpan<float>();
                    double sum = 0;
                    for (int i = 0; i < y.Length; i++) sum += y[i] * r[i];
                    return sum;
                }
                double numeric = (F(1e-3f) - F(-1e-3f)) / 2e-3; // small step: fewer Relu/argmax switches
                Assert.True(Math.Abs(numeric - analytic[wi][k]) <= 1e-2 * Math.Max(0.1, Math.Abs(numeric)),
                    $"{wrt[wi]}[{k}]: analytic {analytic[wi][k]}, numeric {numeric}");
            }
        }
    }

    [Fact]
    public void FrozenParameterGetsNoGradientNodes()
    {
        // y = Relu(x W1) W2: only W2 trainable -> nothing flows back through the first MatMul or the Relu.
        var b = new GraphBuilder("frozen");
        b.Input("x", ElementType.Float, null, 4);
        var w1 = b.ConstFloat("w1", [4, 4], new float[16]);
        var w2 = b.ConstFloat("w2", [4, 2], new float[8]);
        var h = b.Op("Relu", [b.Op("MatMul", ["x", w1])]);
        var y = b.Op("MatMul", [h, w2]);
        b.Output(y, ElementType.Float, null, 2);
        var model = OnnxModel.Create(b.Graph);
        var s = ShapeProbe.Infer(model, "x", [-1, 4]);
        int before = b.Graph.Node.Count;
        var dy = b.Input("dy", ElementType.Float, null, 2);
        var grads = ReverseMode.Differentiate(b, new Dictionary<string, string> { [y] = dy }, ["w2"], s);
        var added = b.Graph.Node.Skip(before).ToList();
        Assert.Single(grads);
        Assert.DoesNotContain(added, n => n.OpType is "Where" or "Greater"); // no Relu gradient
        Assert.Equal(2, added.Count); // Transpose(h) and MatMul
    }

    [Fact]
    public void UnsupportedOpOnTrainablePathNamesNodeOpAndSupportedList()
    {
        var b = new GraphBuilder("bad");
        b.Input("x", ElementType.Float, null, 4);
        var w = b.ConstFloat("w", [4], new float[4]);
        var y = b.OpNamed("Atan", [b.Op("Mul", ["x", w])], "atan_out");
        b.Output(y, ElementType.Float, null, 4);
        var s = ShapeProbe.Infer(OnnxModel.Create(b.Graph), "x", [-1, 4]);
        var dy = b.Input("dy", ElementType.Float, null, 4);
        var e = Assert.Throws<NotSupportedException>(() => ReverseMode.Differentiate(b, new Dictionary<string, string> { [y] = dy }, [w], s));
        Assert.Contains("'Atan'", e.Message);
        Assert.Contains("node 'Atan'", e.Message);
        Assert.Contains("Conv", e.Message);
        Assert.Contains("MaxPool", e.Message);
        // The same op off the trainable path is fine.
        var b2 = new GraphBuilder("ok");
        b2.Input("x", ElementType.Float, null, 4);
        var w2 = b2.ConstFloat("w", [4], new float[4]);
        var y2 = b2.Op("Mul", [b2.Op("Atan", ["x"]), w2]);
        b2.Output(y2, ElementType.Float, null, 4);
        var s2 = ShapeProbe.Infer(OnnxModel.Create(b2.Graph), "x", [-1, 4]);
        var dy2 = b2.Input("dy", ElementType.Float, null, 4);
        Assert.Single(ReverseMode.Differentiate(b2, new Dictionary<string, string> { [y2] = dy2 }, [w2], s2));
    }

    [Theory]
    [InlineData(true, 18)]
    [InlineData(false, 18)]
    [InlineData(true, 14)] // PyTorch 1.13's default export opset: ReduceMean takes axes as an attribute
    public void BatchNormTrainingRunningStatisticsMatchReference(bool unbiased, int opset)
    {
        const int n = 4, c = 3, h = 2, w = 3;
        var rng = new Random(9);
        var x = Enumerable.Range(0, n * c * h * w).Select(_ => (float)(rng.NextDouble() * 4 - 1)).ToArray();
        float[] gamma = [1.5f, 0.5f, -1f], beta = [0.1f, -0.2f, 0.3f], rm = [0.2f, -0.1f, 0.5f], rvar = [1.2f, 0.8f, 2f];
        const float momentum = 0.9f, eps = 1e-5f;
        var b = new GraphBuilder("bn");
        b.Input("x", ElementType.Float, null, c, h, w);
        var y = b.Op("BatchNormalization", ["x", b.ConstFloat("g", [c], gamma), b.ConstFloat("b", [c], beta), b.ConstFloat("rm", [c], rm), b.ConstFloat("rv", [c], rvar)],
            Attr.Float("epsilon", eps), Attr.Float("momentum", momentum));
        b.Output(y, ElementType.Float, null, c, h, w);
        var model = OnnxModel.Create(b.Graph, opset);
        var s = ShapeProbe.Infer(model, "x", [-1, c, h, w]);
        var stats = TrainingRewrite.Apply(b, s, new TrainingRewriteOptions { UnbiasedRunningVariance = unbiased, Opset = opset });
        Assert.Equal(2, stats.Count);
        b.OutputAs(stats["rm"], "new_rm", ElementType.Float, c);
        b.OutputAs(stats["rv"], "new_rv", ElementType.Float, c);
        using var sess = new InferenceSession(OnnxModel.ToBytes(model));
        using var xv = OrtValue.CreateTensorValueFromMemory(x, [n, c, h, w]);
        using var res = sess.Run(SharedRunOptions.Default, ["x"], [xv], [y, "new_rm", "new_rv"]);
        var yo = res[0].GetTensorDataAsSpan<float>().ToArray();
        var nm = res[1].GetTensorDataAsSpan<float>().ToArray();
        var nv = res[2].GetTensorDataAsSpan<float>().ToArray();
        int m = n * h * w;
        for (int ch = 0; ch < c; ch++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < n; i++) for (int j = 0; j < h * w; j++) mean += x[(i * c + ch) * h * w + j];
            mean /= m;
            for (int i = 0; i < n; i++) for (int j = 0; j < h * w; j++) var += Math.Pow(x[(i * c + ch) * h * w + j] - mean, 2);
            var /= m;
            Assert.Equal(momentum * rm[ch] + (1 - momentum) * mean, nm[ch], 5);
            Assert.Equal(momentum * rvar[ch] + (1 - momentum) * (unbiased ? var * m / (m - 1) : var), nv[ch], 5);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < h * w; j++)
                {
                    int k = (i * c + ch) * h * w + j;
                    Assert.Equal(gamma[ch] * (x[k] - mean) / Math.Sqrt(var + eps) + beta[ch], yo[k], 4);
                }
        }
    }

    [Theory]
    [InlineData(18)]
    [InlineData(14)] // Split takes its sizes as an attribute before opset 13, as an input from 13 on
    public void RunningStatisticsOfSeveralBatchNormsAreUpdatedInOneFusedPass(int opset)
    {
        // BN1 (3 channels, momentum 0.9) -> Reshape to 6 channels -> BN2 (momentum 0.7): one Concat/Mul/Add/Split
        // updates all four statistics, each to momentum * running + (1 - momentum) * batch of its own node.
        const int n = 5;
        var rng = new Random(4);
        var x = Enumerable.Range(0, n * 3 * 2 * 3).Select(_ => (float)(rng.NextDouble() * 3 - 1)).ToArray();
        var b = new GraphBuilder("bn2");
        b.Input("x", ElementType.Float, null, 3, 2, 3);
        var y1 = b.Op("BatchNormalization", ["x", b.ConstFloat("g1", [3], 1f, 2f, 0.5f), b.ConstFloat("b1", [3], 0f, 0.1f, 0.2f),
            b.ConstFloat("rm1", [3], 0.1f, 0.2f, 0.3f), b.ConstFloat("rv1", [3], 1f, 2f, 3f)], Attr.Float("momentum", 0.9f));
        var r = b.Op("Reshape", [y1, b.ConstInt64("shape", 0, 6, 1, 3)]);
        var y2 = b.Op("BatchNormalization", [r, b.ConstFloat("g2", [6], 1f, 1f, 1f, 1f, 1f, 1f), b.ConstFloat("b2", [6], new float[6]),
            b.ConstFloat("rm2", [6], 0f, -1f, 1f, 0.5f, 0f, 2f), b.ConstFloat("rv2", [6], 1f, 1f, 2f, 2f, 3f, 3f)], Attr.Float("momentum", 0.7f));
        b.Output(y2, ElementType.Float, null, 6, 1, 3);
        var model = OnnxModel.Create(b.Graph, opset);
        var s = ShapeProbe.Infer(model, "x", [-1, 3, 2, 3]);
        var stats = TrainingRewrite.Apply(b, s, new TrainingRewriteOptions { Opset = opset });
        Assert.Single(b.Graph.Node, node => node.OpType == "Split");
        foreach (var name in new[] { "rm1", "rv1", "rm2", "rv2" }) b.OutputAs(stats[name], "new_" + name, ElementType.Float, name.EndsWith('1') ? 3 : 6);
        b.Output(r, ElementType.Float, null, 6, 1, 3);
        using var sess = new InferenceSession(OnnxModel.ToBytes(model));
        using var xv = OrtValue.CreateTensorValueFromMemory(x, [n, 3, 2, 3]);
        using var res = sess.Run(SharedRunOptions.Default, ["x"], [xv], [r, "new_rm1", "new_rv1", "new_rm2", "new_rv2"]);
        var mid = res[0].GetTensorDataAsSpan<float>().ToArray();
        void Expect(float[] input, int c, int hw, float[] rm, float[] rv, double momentum, int output)
        {
            var nm = res[output].GetTensorDataAsSpan<float>().ToArray();
            var nv = res[output + 1].GetTensorDataAsSpan<float>().ToArray();
            int m = n * hw;
            for (int ch = 0; ch < c; ch++)
            {
                var v = Enumerable.Range(0, n).SelectMany(i => Enumerable.Range(0, hw).Select(j => (double)input[(i * c + ch) * hw + j])).ToArray();
                double mean = v.Average(), var = v.Sum(e => (e - mean) * (e - mean)) / m;
                Assert.Equal(momentum * rm[ch] + (1 - momentum) * mean, nm[ch], 5);
                Assert.Equal(momentum * rv[ch] + (1 - momentum) * var * m / (m - 1), nv[ch], 5);
            }
        }
        Expect(x, 3, 6, [0.1f, 0.2f, 0.3f], [1f, 2f, 3f], 0.9f, 1);
        Expect(mid, 6, 3, [0f, -1f, 1f, 0.5f, 0f, 2f], [1f, 1f, 2f, 2f, 3f, 3f], 0.7f, 3);
    }

    [Fact]
    public void InGraphDropoutGradientUsesTheForwardMask()
    {
        var b = new GraphBuilder("drop");
        b.Input("x", ElementType.Float, null, 50);
        var y = b.Op("Dropout", ["x", b.Scalar(0.5f, "ratio")]);
        b.Output(y, ElementType.Float, null, 50);
        var model = OnnxModel.Create(b.Graph);
        var s = ShapeProbe.Infer(model, "x", [-1, 50]);
        var res = TrainingRewrite.Rewrite(b, s, new TrainingRewriteOptions { DropoutMasks = DropoutMaskSource.InGraph });
        Assert.Empty(res.DropoutMasks);
        var drop = b.Graph.Node.Single(n => n.OpType == "Dropout");
        Assert.Equal(2, drop.Output.Count);
        var dy = b.Input("dy", ElementType.Float, null, 50);
        var g = ReverseMode.Differentiate(b, new Dictionary<string, string> { [y] = dy }, ["x"], s);
        b.OutputAs(g["x"], "dx", ElementType.Float, null, 50);
        b.Output(drop.Output[1], ElementType.Bool, null, 50);
        using var sess = new InferenceSession(OnnxModel.ToBytes(model));
        var x = Enumerable.Range(0, 100).Select(i => 1f + i).ToArray();
        var d = Enumerable.Range(0, 100).Select(i => 0.5f - i).ToArray();
        using var xv = OrtValue.CreateTensorValueFromMemory(x, [2, 50]);
        using var dv = OrtValue.CreateTensorValueFromMemory(d, [2, 50]);
        using var r = sess.Run(SharedRunOptions.Default, ["x", "dy"], [xv, dv], [y, "dx", drop.Output[1]]);
        var yo = r[0].GetTensorDataAsSpan<float>().ToArray();
        var dx = r[1].GetTensorDataAsSpan<float>().ToArray();
        var mask = r[2].GetTensorDataAsSpan<bool>().ToArray();
        Assert.Contains(true, mask);
        Assert.Contains(false, mask);
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(mask[i] ? 2 * x[i] : 0f, yo[i]);
            Assert.Equal(mask[i] ? 2 * d[i] : 0f, dx[i]);
        }
    }

    [Fact]
    public void RunningStatisticsTiedToParametersByExportDedupAreUntied()
    {
        // torch.onnx.export (1.13) of a fresh BatchNorm2d: running_var = Identity(bn.weight), running_mean = Identity(bn.bias).
        var b = new GraphBuilder("dedup");
        b.Input("x", ElementType.Float, null, 2, 2, 2);
        b.Graph.Initializer.Add(Tensors.Float("bn.weight", [2], [1f, 1f]));
        b.Graph.Initializer.Add(Tensors.Float("bn.bias", [2], [0f, 0f]));
        b.OpNamed("Identity", ["bn.weight"], "bn.running_var");
        b.OpNamed("Identity", ["bn.bias"], "bn.running_mean");
        var y = b.Op("BatchNormalization", ["x", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"]);
        b.Output(y, ElementType.Float, null, 2, 2, 2);
        var model = OnnxModel.Create(b.Graph, 14);
        var s = ShapeProbe.Infer(model, "x", [-1, 2, 2, 2]);
        var stats = TrainingRewrite.Apply(b, s, new TrainingRewriteOptions { Opset = 14 });
        Assert.Equal(["bn.running_mean", "bn.running_var"], stats.Keys.Order());
        Assert.DoesNotContain(b.Graph.Node, n => n.OpType == "Identity" && n.Input[0].StartsWith("bn.", StringComparison.Ordinal));
        Assert.Equal([1f, 1f], Tensors.ToFloats(b.Graph.Initializer.Single(t => t.Name == "bn.running_var")));
        Assert.Equal([0f, 0f], Tensors.ToFloats(b.Graph.Initializer.Single(t => t.Name == "bn.running_mean")));
        b.OutputAs(stats["bn.running_var"], "new_rv", ElementType.Float, 2);
        using var sess = new InferenceSession(OnnxModel.ToBytes(model));
        using var xv = OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, 16).Select(i => (float)i).ToArray(), [2, 2, 2, 2]);
        using var r = sess.Run(SharedRunOptions.Default, ["x"], [xv], ["new_rv"]);
        Assert.Equal(2, r[0].GetTensorDataAsSpan<float>().Length);
    }

    [Fact]
    public void ValueMissingFromTheShapeTableOnAPathIsAnError()
    {
        var b = new GraphBuilder("late");
        b.Input("x", ElementType.Float, null, 4);
        var w = b.ConstFloat("w", [4], new float[4]);
        var y = b.Op("Mul", ["x", w]);
        b.Output(y, ElementType.Float, null, 4);
        var s = ShapeProbe.Infer(OnnxModel.Create(b.Graph), "x", [-1, 4]);
        var late = b.Op("Tanh", [y]); // added after probing, not registered
        var z = b.Op("Neg", [late]);  // added after probing, registered
        s.Set(z, [-1, 4], ElementType.Float);
        var dy = b.Input("dy", ElementType.Float, null, 4);
        var e = Assert.Throws<ArgumentException>(() => ReverseMode.Differentiate(b, new Dictionary<string, string> { [z] = dy }, [w], s));
        Assert.Contains($"'{late}'", e.Message);
        s.Set(late, [-1, 4], ElementType.Float);
        Assert.Single(ReverseMode.Differentiate(b, new Dictionary<string, string> { [z] = dy }, [w], s));
    }
}
