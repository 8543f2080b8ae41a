using Acwa.Onnx.Graphs;
using Acwa.Onnx.Integration;
using Acwa.Onnx.Metrics;
using Acwa.Onnx.Weighting;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Samples.AdaptiveWeightsInOwnLoop;

/// <summary>
/// You own the training loop (your graph, your optimiser, your data); ACWA only supplies the class weights. Each epoch:
/// train with the current weights OrtValue as the loss's weight input, validate with your own session, accumulate a
/// confusion matrix from the logits OrtValue, turn the report into feedback, ask the policy for the next weights, and
/// write them into the same OrtValue. The model here is softmax regression on imbalanced 2-D Gaussian blobs with a
/// hand-built training-step graph (weighted cross-entropy + one gradient-descent step, standard ONNX ops only).
/// </summary>
public static class AdaptiveWeightsInOwnLoopSample
{
    private const int D = 2, C = 4;

    public static int Main() => Run(Console.Out);

    /// <summary>Runs the sample, writing to <paramref name="output"/>; returns 0.</summary>
    public static int Run(TextWriter output, int epochs = 10, string policySpec = "acwa:alpha=0.3")
    {
        long[] trainCounts = [800, 200, 50, 15];
        var (xTrain, yTrain) = Blobs(trainCounts, seed: 1);
        var (xVal, yVal) = Blobs([100, 100, 100, 100], seed: 2);
        int nTrain = yTrain.Length, nVal = yVal.Length;

        using var step = new InferenceSession(StepGraph());
        using var forward = new InferenceSession(ForwardGraph());
        var w = new float[D * C];
        var b = new float[C];
        using var xv = OrtValue.CreateTensorValueFromMemory(xTrain, [nTrain, D]);
        using var yv = OrtValue.CreateTensorValueFromMemory(yTrain.Select(v => (long)v).ToArray(), [nTrain]);
        using var xValue = OrtValue.CreateTensorValueFromMemory(xVal, [nVal, D]);
        using var lr = OrtValue.CreateTensorValueFromMemory(new[] { 0.5f }, []);

        var policy = PolicyFactory.Create(policySpec, trainCounts, epochs);
        using var classWeights = ClassWeightValues.Create(policy.Current);      // fp32 [C]: the loss's weight input
        output.WriteLine($"policy {policy.Spec}; train counts {string.Join(", ", trainCounts)}");
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            float loss = 0;
            for (int s = 0; s < 25; s++)                                          // your training steps
            {
                using var wv = OrtValue.CreateTensorValueFromMemory(w, [D, C]);
                using var bv = OrtValue.CreateTensorValueFromMemory(b, [C]);
                using var o = step.Run(new RunOptions(), ["w", "b", "x", "y", "class_weights", "lr"], [wv, bv, xv, yv, classWeights, lr], ["w.new", "b.new", "loss"]);
                o[0].GetTensorDataAsSpan<float>().CopyTo(w);
                o[1].GetTensorDataAsSpan<float>().CopyTo(b);
                loss = o[2].GetTensorDataAsSpan<float>()[0];
            }

            var matrix = new ConfusionMatrix(C);                                  // your validation pass
            using (var wv = OrtValue.CreateTensorValueFromMemory(w, [D, C]))
            using (var bv = OrtValue.CreateTensorValueFromMemory(b, [C]))
            using (var o = forward.Run(new RunOptions(), ["w", "b", "x"], [wv, bv, xValue], ["logits"]))
                matrix.AccumulateLogits(yVal, o[0]);
            var report = ClassificationReport.Create(matrix);

            double[] next = policy.NextWeights(report, trainCounts, epoch, epochs);  // ACWA: next epoch's weights
            ClassWeightValues.CopyTo(next, classWeights);                          // same OrtValue, new values
            output.WriteLine($"epoch {epoch}: loss {loss:0.0000}, val macro F1 {report.MacroF1:0.0000}, F1 [{string.Join(", ", report.Classes.Select(c => c.F1.ToString("0.00")))}]"
                             + $" -> weights [{string.Join(", ", next.Select(v => v.ToString("0.000")))}]");
        }
        return 0;
    }

    /// <summary>Class k: N(mu_k, 0.8^2 I) in 2-D, centres on a square; fixed seed.</summary>
    private static (float[] X, int[] Y) Blobs(long[] counts, int seed)
    {
        var rng = new Random(seed);
        (double, double)[] mu = [(0, 0), (2, 0), (0, 2), (2, 2)];
        var x = new List<float>();
        var y = new List<int>();
        for (int c = 0; c < counts.Length; c++)
            for (int i = 0; i < counts[c]; i++)
            {
                double g1 = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                double g2 = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                x.Add((float)(mu[c].Item1 + 0.8 * g1));
                x.Add((float)(mu[c].Item2 + 0.8 * g2));
                y.Add(c);
            }
        return (x.ToArray(), y.ToArray());
    }

    private static byte[] ForwardGraph()
    {
        var g = new GraphBuilder("forward");
        var w = g.Input("w", ElementType.Float, D, C);
        var b = g.Input("b", ElementType.Float, C);
        var x = g.Input("x", ElementType.Float, null, D);
        g.OutputAs(g.Op("Add", [g.Op("MatMul", [x, w]), b]), "logits", ElementType.Float, null, C);
        return OnnxModel.ToBytes(OnnxModel.Create(g.Graph));
    }

    /// <summary>
    /// One step of gradient descent on the class-weighted cross-entropy
    /// L = sum_i cw[y_i] * nll_i / sum_i cw[y_i]; dL/dz = cw[y] (softmax(z) - onehot(y)) / sum cw[y].
    /// </summary>
    private static byte[] StepGraph()
    {
        var g = new GraphBuilder("step");
        var w = g.Input("w", ElementType.Float, D, C);
        var b = g.Input("b", ElementType.Float, C);
        var x = g.Input("x", ElementType.Float, null, D);
        var y = g.Input("y", ElementType.Int64, [null]);
        var cw = g.Input("class_weights", ElementType.Float, C);
        var lr = g.Input("lr", ElementType.Float);
        var z = g.Op("Add", [g.Op("MatMul", [x, w]), b]);
        var onehot = g.Op("OneHot", [y, g.ConstInt64("depth", C), g.ConstFloat("onoff", [2], 0f, 1f)], Attr.Int("axis", -1));
        var wy = g.Op("Gather", [cw, y]);                                           // [N]
        var sumW = g.Op("ReduceSum", [wy], Attr.Int("keepdims", 0));
        var nll = g.Op("Neg", [g.Op("ReduceSum", [g.Op("Mul", [onehot, g.Op("LogSoftmax", [z], Attr.Int("axis", 1))]), g.ConstInt64("axis1", 1)], Attr.Int("keepdims", 0))]);
        g.OutputAs(g.Op("Div", [g.Op("ReduceSum", [g.Op("Mul", [wy, nll])], Attr.Int("keepdims", 0)), sumW]), "loss", ElementType.Float);
        var scale = g.Op("Div", [g.Op("Unsqueeze", [wy, g.ConstInt64("axes1", 1)]), sumW]);   // [N, 1]
        var dz = g.Op("Mul", [g.Op("Sub", [g.Op("Softmax", [z], Attr.Int("axis", 1)), onehot]), scale]);
        var dw = g.Op("MatMul", [g.Op("Transpose", [x], Attr.Ints("perm", 1, 0)), dz]);
        var db = g.Op("ReduceSum", [dz, g.ConstInt64("axes0", 0)], Attr.Int("keepdims", 0));
        g.OutputAs(g.Op("Sub", [w, g.Op("Mul", [lr, dw])]), "w.new", ElementType.Float, D, C);
        g.OutputAs(g.Op("Sub", [b, g.Op("Mul", [lr, db])]), "b.new", ElementType.Float, C);
        return OnnxModel.ToBytes(OnnxModel.Create(g.Graph));
    }
}
