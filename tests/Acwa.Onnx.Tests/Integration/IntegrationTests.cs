using Acwa.Onnx.Graphs;
using Acwa.Onnx.Integration;
using Acwa.Onnx.Metrics;
using Acwa.Onnx.Weighting;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Acwa.Onnx.Tests.Evaluation;

namespace Acwa.Onnx.Tests.Integration;

public class IntegrationTests
{
    private static (float[] Logits, int[] Labels) Random(int n, int c, int seed)
    {
        var rng = new Random(seed);
        return (Enumerable.Range(0, n * c).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray(), Enumerable.Range(0, n).Select(_ => rng.Next(c)).ToArray());
    }

    [Fact]
    public void AccumulateFromSessionOutputFp32Fp16AndBf16EqualsSpanAccumulation()
    {
        var (x, y) = Random(200, 6, 3);
        var model = EvalModels.Linear(1, 1, 6, 6);
        using var session = new InferenceSession(OnnxModel.ToBytes(model));
        using var input = OrtValue.CreateTensorValueFromMemory(x, [200, 1, 1, 6]);
        using var outs = session.Run(SharedRunOptions.Default, ["x"], [input], ["logits"]);
        var fromValue = new ConfusionMatrix(6);
        fromValue.AccumulateLogits(y, outs[0]);
        var fromSpan = new ConfusionMatrix(6);
        fromSpan.AccumulateLogits(y, outs[0].GetTensorDataAsSpan<float>());
        Assert.Equal(fromSpan.ToArray(), fromValue.ToArray());
        Assert.Equal(200, fromValue.Total);

        // fp16 logits: the same values rounded to half
        var half = outs[0].GetTensorDataAsSpan<float>().ToArray().Select(v => new Float16(BitConverter.HalfToUInt16Bits((Half)v))).ToArray();
        using var h = OrtValue.CreateTensorValueFromMemory(half, [200, 6]);
        var fromHalf = new ConfusionMatrix(6);
        fromHalf.AccumulateLogits(y, h);
        var expectedHalf = new ConfusionMatrix(6);
        expectedHalf.AccumulateLogits(y, half.Select(v => BitConverter.UInt16BitsToHalf(v.value)).ToArray());
        Assert.Equal(expectedHalf.ToArray(), fromHalf.ToArray());

        // bf16 logits: the upper 16 bits of each fp32
        var bf = outs[0].GetTensorDataAsSpan<float>().ToArray().Select(v => new BFloat16((ushort)(BitConverter.SingleToUInt32Bits(v) >> 16))).ToArray();
        using var b = OrtValue.CreateTensorValueFromMemory(bf, [200, 6]);
        var fromBf = new ConfusionMatrix(6);
        fromBf.AccumulateLogits(y, b);
        var expectedBf = new ConfusionMatrix(6);
        expectedBf.AccumulateLogits(y, bf.Select(v => BitConverter.UInt32BitsToSingle((uint)v.value << 16)).ToArray());
        Assert.Equal(expectedBf.ToArray(), fromBf.ToArray());
        Assert.Equal(200, fromBf.Total);
    }

    [Fact]
    public void AccumulatePredictionsInt64AndInt32()
    {
        var y = new[] { 0, 1, 2, 2, 1 };
        using var p64 = OrtValue.CreateTensorValueFromMemory(new long[] { 0, 2, 2, 1, 1 }, [5]);
        using var p32 = OrtValue.CreateTensorValueFromMemory(new int[] { 0, 2, 2, 1, 1 }, [5, 1]);
        var a = new ConfusionMatrix(3);
        a.AccumulatePredictions(y, p64);
        var b = new ConfusionMatrix(3);
        b.AccumulatePredictions(y, p32);
        Assert.Equal(a.ToArray(), b.ToArray());
        Assert.Equal(1, a[1, 2]);
        Assert.Equal(1, a[2, 1]);
        Assert.Equal(3, a.Correct);
    }

    [Fact]
    public void WrongShapesAndTypesAreErrorsNamingThem()
    {
        var m = new ConfusionMatrix(3);
        using var wrongC = OrtValue.CreateTensorValueFromMemory(new float[8], [2, 4]);
        Assert.Contains("[2, 4]", Assert.Throws<ArgumentException>(() => m.AccumulateLogits([0, 1], wrongC)).Message);
        using var ints = OrtValue.CreateTensorValueFromMemory(new int[6], [2, 3]);
        Assert.Contains("Int32", Assert.Throws<ArgumentException>(() => m.AccumulateLogits([0, 1], ints)).Message);
        using var rows = OrtValue.CreateTensorValueFromMemory(new long[3], [3]);
        Assert.Contains("expected [2]", Assert.Throws<ArgumentException>(() => m.AccumulatePredictions([0, 1], rows)).Message);
        Assert.Equal(0, m.Total);
    }

    [Fact]
    public void ClassWeightsValueFeedsAWeightedLossInput()
    {
        // loss = SoftmaxCrossEntropyLoss(logits, labels, weights), reduction mean: sum_i w[y_i] * nll_i / sum_i w[y_i]
        var b = new GraphBuilder("loss");
        var logits = b.Input("logits", ElementType.Float, null, 3);
        var labels = b.Input("labels", ElementType.Int64, [null]);
        var w = b.Input("class_weights", ElementType.Float, 3);
        b.OutputAs(b.Op("SoftmaxCrossEntropyLoss", [logits, labels, w], Attr.String("reduction", "mean")), "loss", ElementType.Float);
        using var session = new InferenceSession(OnnxModel.ToBytes(OnnxModel.Create(b.Graph)));

        double[] weights = [0.5, 2.0, 1.25];
        using var wv = ClassWeightValues.Create(weights);
        Assert.Equal([0.5f, 2f, 1.25f], wv.GetTensorDataAsSpan<float>().ToArray());
        Assert.Equal([3L], wv.GetTensorTypeAndShape().Shape);

        float[] z = [1, 2, 0.5f, -1, 0, 3, 0.2f, 0.1f, 0.3f, 2, 2, 2];
        long[] y = [0, 1, 2, 1];
        using var zv = OrtValue.CreateTensorValueFromMemory(z, [4, 3]);
        using var yv = OrtValue.CreateTensorValueFromMemory(y, [4]);
        float Loss()
        {
            using var o = session.Run(SharedRunOptions.Default, ["logits", "labels", "class_weights"], [zv, yv, wv], ["loss"]);
            return o[0].GetTensorDataAsSpan<float>()[0];
        }
        double Expected(double[] ws)
        {
            double num = 0, den = 0;
            for (int i = 0; i < 4; i++)
            {
                var row = z.AsSpan(i * 3, 3).ToArray().Select(v => (double)v).ToArray();
                double lse = Math.Log(row.Sum(Math.Exp));
                num += ws[y[i]] * (lse - row[y[i]]);
                den += ws[y[i]];
            }
            return num / den;
        }
        Assert.Equal(Expected(weights), Loss(), 5);
        double[] next = [1, 1, 4];
        ClassWeightValues.CopyTo(next, wv); // in place: a bound input keeps pointing at it
        Assert.Equal(Expected(next), Loss(), 5);
        Assert.Contains("class weight 1", Assert.Throws<ArgumentException>(() => ClassWeightValues.Create([1, double.NaN])).Message);
        Assert.Contains("expected Float [2]", Assert.Throws<ArgumentException>(() => ClassWeightValues.CopyTo([1, 2], wv)).Message);
    }

    [Fact]
    public void FeedbackFromReportDrivesAPolicyLikeHandBuiltFeedback()
    {
        var m = new ConfusionMatrix(3);
        m.Accumulate([0, 0, 0, 1, 1, 2, 2, 2, 2], [0, 0, 1, 1, 2, 2, 2, 0, 2]);
        var report = ClassificationReport.Create(m);
        long[] train = [500, 100, 20];
        var fb = EpochFeedback.FromReport(0, 10, report, train);
        Assert.Equal(report.Classes.Select(c => c.F1), fb.F1);
        Assert.Equal(report.Classes.Select(c => c.Recall), fb.Recall);
        Assert.Equal([3L, 2, 4], fb.Support);
        Assert.Equal(FeedbackSource.Validation, fb.Source);

        var p1 = PolicyFactory.Create("acwa", train, 10);
        var p2 = PolicyFactory.Create("acwa", train, 10);
        var viaHelper = p1.NextWeights(report, train, 0, 10);
        var byHand = p2.Update(new EpochFeedback(0, 10, report.Classes.Select(c => c.F1).ToArray(), report.Classes.Select(c => c.Precision).ToArray(),
            report.Classes.Select(c => c.Recall).ToArray(), [3, 2, 4], train));
        Assert.Equal(byHand, viaHelper);
        Assert.NotEqual([1.0, 1.0, 1.0], viaHelper);
        Assert.Contains("trainCounts has 2 entries", Assert.Throws<ArgumentException>(() => EpochFeedback.FromReport(0, 10, report, [1, 2])).Message);
    }
}
