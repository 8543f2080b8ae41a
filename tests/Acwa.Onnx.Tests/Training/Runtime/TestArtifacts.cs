using Acwa.Onnx.Graphs;
using Acwa.Onnx.IO;
using Acwa.Onnx.Training;

namespace Acwa.Onnx.Tests.Training.Runtime;

/// <summary>
/// A hand-built artifact set for runtime tests: a linear softmax classifier (logits = xW + b) with class-weighted
/// cross-entropy (weighted mean, as PyTorch), hand-written gradients and an Adam update, plus a loss EMA buffer.
/// </summary>
internal static class TestArtifacts
{
    public const float Beta1 = 0.9f, Beta2 = 0.999f, Eps = 1e-8f;

    public static string Create(int d, int c, int seed = 1, string? dir = null)
    {
        dir ??= Directory.CreateTempSubdirectory("acwa-rt").FullName;
        var rng = new Random(seed);
        var w0 = Enumerable.Range(0, d * c).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.2f).ToArray();
        var b0 = Enumerable.Range(0, c).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.1f).ToArray();

        OnnxModel.Save(OnnxModel.Create(TrainingGraph(d, c)), Path.Combine(dir, "training_model.onnx"));
        OnnxModel.Save(OnnxModel.Create(EvalGraph(d, c, null, null)), Path.Combine(dir, "eval_model.onnx"));
        OnnxModel.Save(OnnxModel.Create(EvalGraph(d, c, w0, b0)), Path.Combine(dir, "inference_model.onnx"));
        TensorFile.Save(Path.Combine(dir, "checkpoint.acwa"),
        [
            HostTensor.Of("W", [d, c], w0), HostTensor.Of("b", [c], b0),
            HostTensor.Of("W.m", [d, c], new float[d * c]), HostTensor.Of("W.v", [d, c], new float[d * c]),
            HostTensor.Of("b.m", [c], new float[c]), HostTensor.Of("b.v", [c], new float[c]),
            HostTensor.Of("loss_ema", [1], [0f]),
        ]);
        var manifest = new ArtifactManifest
        {
            NumClasses = c,
            InputShape = [-1, d],
            Optimizer = "adam",
            State =
            [
                new("W", StateKind.Parameter, [d, c], "W", "W.new"),
                new("b", StateKind.Parameter, [c], "b", "b.new"),
                new("W.m", StateKind.Optimizer, [d, c], "W.m", "W.m.new"),
                new("W.v", StateKind.Optimizer, [d, c], "W.v", "W.v.new"),
                new("b.m", StateKind.Optimizer, [c], "b.m", "b.m.new"),
                new("b.v", StateKind.Optimizer, [c], "b.v", "b.v.new"),
                new("loss_ema", StateKind.Buffer, [1], "loss_ema", "loss_ema.new"),
            ],
            Controls =
            [
                new("lr", [], "lr", [0.01f]),
                new("bias1", [], "adam_bias1", [1f]),
                new("bias2", [], "adam_bias2", [1f]),
                new("class_weights", [c], "class_weights", [1f]),
            ],
            EvalStateInputs = ["W", "b"],
        };
        manifest.Save(Path.Combine(dir, "manifest.json"));
        return dir;
    }

    private static Acwa.Onnx.Graphs.Proto.GraphProto TrainingGraph(int d, int c)
    {
        var g = new GraphBuilder("train");
        var x = g.Input("x", ElementType.Float, null, d);
        var y = g.Input("y", ElementType.Int64, (long?)null);
        var w = g.Input("W", ElementType.Float, d, c);
        var b = g.Input("b", ElementType.Float, c);
        var wm = g.Input("W.m", ElementType.Float, d, c);
        var wv = g.Input("W.v", ElementType.Float, d, c);
        var bm = g.Input("b.m", ElementType.Float, c);
        var bv = g.Input("b.v", ElementType.Float, c);
        var ema = g.Input("loss_ema", ElementType.Float, 1);
        var lr = g.Input("lr", ElementType.Float);
        var bias1 = g.Input("bias1", ElementType.Float);
        var bias2 = g.Input("bias2", ElementType.Float);
        var cw = g.Input("class_weights", ElementType.Float, c);

        var logits = g.Op("Add", [g.Op("MatMul", [x, w]), b]);
        var p = g.Op("Softmax", [logits], Attr.Int("axis", -1));
        var logp = g.Op("LogSoftmax", [logits], Attr.Int("axis", -1));
        var onehot = g.Op("OneHot", [y, g.ConstInt64("depth", c), g.ConstFloat("onoff", [2], 0f, 1f)], Attr.Int("axis", -1));
        var wy = g.Op("Gather", [cw, y], Attr.Int("axis", 0));
        var nll = g.Op("Neg", [g.Op("ReduceSum", [g.Op("Mul", [onehot, logp]), g.ConstInt64("ax1", 1)], Attr.Int("keepdims", 0))]);
        var wsum = g.Op("ReduceSum", [wy], Attr.Int("keepdims", 0));
        var loss = g.Op("Div", [g.Op("ReduceSum", [g.Op("Mul", [wy, nll])], Attr.Int("keepdims", 0)), wsum]);
        var scale = g.Op("Unsqueeze", [g.Op("Div", [wy, wsum]), g.ConstInt64("ax1b", 1)]);
        var glog = g.Op("Mul", [g.Op("Sub", [p, onehot]), scale]);
        var gw = g.Op("MatMul", [g.Op("Transpose", [x], Attr.Ints("perm", 1, 0)), glog]);
        var gb = g.Op("ReduceSum", [glog, g.ConstInt64("ax0", 0)], Attr.Int("keepdims", 0));

        var b1 = g.Scalar(Beta1, "beta1"); var omb1 = g.Scalar(1 - Beta1, "one_minus_beta1");
        var b2 = g.Scalar(Beta2, "beta2"); var omb2 = g.Scalar(1 - Beta2, "one_minus_beta2");
        var eps = g.Scalar(Eps, "eps");
        void Adam(string param, string grad, string m, string v)
        {
            var m2 = g.Op("Add", [g.Op("Mul", [b1, m]), g.Op("Mul", [omb1, grad])]);
            var v2 = g.Op("Add", [g.Op("Mul", [b2, v]), g.Op("Mul", [omb2, g.Op("Mul", [grad, grad])])]);
            var mhat = g.Op("Div", [m2, bias1]);
            var vhat = g.Op("Div", [v2, bias2]);
            var upd = g.Op("Div", [g.Op("Mul", [lr, mhat]), g.Op("Add", [g.Op("Sqrt", [vhat]), eps])]);
            var shape = param == "W" ? new long?[] { d, c } : [c];
            g.OutputAs(g.Op("Sub", [param, upd]), param + ".new", ElementType.Float, shape);
            g.OutputAs(m2, m + ".new", ElementType.Float, shape);
            g.OutputAs(v2, v + ".new", ElementType.Float, shape);
        }
        Adam(w, gw, wm, wv);
        Adam(b, gb, bm, bv);
        var ema2 = g.Op("Add", [g.Op("Mul", [g.Scalar(0.9f, "ema_decay"), ema]), g.Op("Mul", [g.Scalar(0.1f, "ema_rate"), loss])]);
        g.OutputAs(ema2, "loss_ema.new", ElementType.Float, 1);
        g.OutputAs(loss, "loss", ElementType.Float);
        g.OutputAs(logits, "logits", ElementType.Float, null, c);
        g.OutputAs(g.Op("ArgMax", [logits], Attr.Int("axis", 1), Attr.Int("keepdims", 0)), "predictions", ElementType.Int64, (long?)null);
        return g.Graph;
    }

    /// <summary>Eval graph (W, b as inputs) or, with values, the inference graph (W, b as initializers).</summary>
    private static Acwa.Onnx.Graphs.Proto.GraphProto EvalGraph(int d, int c, float[]? w0, float[]? b0)
    {
        var g = new GraphBuilder(w0 is null ? "eval" : "inference");
        var x = g.Input("x", ElementType.Float, null, d);
        string w, b;
        if (w0 is null) { w = g.Input("W", ElementType.Float, d, c); b = g.Input("b", ElementType.Float, c); }
        else { w = g.Initializer(Tensors.Float("W", [d, c], w0)); b = g.Initializer(Tensors.Float("b", [c], b0!)); }
        var logits = g.Op("Add", [g.Op("MatMul", [x, w]), b]);
        g.OutputAs(logits, "logits", ElementType.Float, null, c);
        if (w0 is null) g.OutputAs(g.Op("ArgMax", [logits], Attr.Int("axis", 1), Attr.Int("keepdims", 0)), "predictions", ElementType.Int64, (long?)null);
        return g.Graph;
    }

    /// <summary>Random batch: x uniform in [-1, 1), labels uniform in [0, c).</summary>
    public static (float[] X, long[] Y) Batch(Random rng, int n, int d, int c)
    {
        var x = new float[n * d];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var y = new long[n];
        for (int i = 0; i < n; i++) y[i] = rng.Next(c);
        return (x, y);
    }
}

/// <summary>The same model, loss and Adam update on the host in double precision: the reference for ping-pong tests.</summary>
internal sealed class HostReference(int d, int c, float[] w, float[] b)
{
    public double[] W = w.Select(v => (double)v).ToArray();
    public double[] B = b.Select(v => (double)v).ToArray();
    private readonly double[] _wm = new double[d * c], _wv = new double[d * c], _bm = new double[c], _bv = new double[c];
    public double LossEma;
    public int T;

    public double Step(float[] x, long[] y, int n, double lr, float[] cw)
    {
        T++;
        var gw = new double[d * c];
        var gb = new double[c];
        double wsum = 0, loss = 0;
        for (int i = 0; i < n; i++) wsum += cw[y[i]];
        for (int i = 0; i < n; i++)
        {
            var z = new double[c];
            for (int k = 0; k < c; k++)
            {
                z[k] = B[k];
                for (int j = 0; j < d; j++) z[k] += x[i * d + j] * W[j * c + k];
            }
            double max = z.Max(), sum = 0;
            for (int k = 0; k < c; k++) sum += Math.Exp(z[k] - max);
            double wi = cw[y[i]];
            loss += wi * -(z[y[i]] - max - Math.Log(sum));
            for (int k = 0; k < c; k++)
            {
                double g = (Math.Exp(z[k] - max) / sum - (k == y[i] ? 1 : 0)) * wi / wsum;
                gb[k] += g;
                for (int j = 0; j < d; j++) gw[j * c + k] += x[i * d + j] * g;
            }
        }
        loss /= wsum;
        double bias1 = 1 - Math.Pow(TestArtifacts.Beta1, T), bias2 = 1 - Math.Pow(TestArtifacts.Beta2, T);
        Adam(W, gw, _wm, _wv, lr, bias1, bias2);
        Adam(B, gb, _bm, _bv, lr, bias1, bias2);
        LossEma = 0.9 * LossEma + 0.1 * loss;
        return loss;
    }

    private static void Adam(double[] p, double[] g, double[] m, double[] v, double lr, double bias1, double bias2)
    {
        for (int i = 0; i < p.Length; i++)
        {
            m[i] = TestArtifacts.Beta1 * m[i] + (1 - TestArtifacts.Beta1) * g[i];
            v[i] = TestArtifacts.Beta2 * v[i] + (1 - TestArtifacts.Beta2) * g[i] * g[i];
            p[i] -= lr * (m[i] / bias1) / (Math.Sqrt(v[i] / bias2) + TestArtifacts.Eps);
        }
    }
}
