using Acwa.Onnx.Data;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Metrics;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Tests.Evaluation;

/// <summary>Tiny classifiers and datasets for evaluation tests, plus a direct reference computation with InferenceSession.Run.</summary>
internal static class EvalModels
{
    /// <summary>x [N, C, H, W] -> Flatten -> MatMul W [C*H*W, classes] + b -> logits [N, classes]; fixed-seed weights.</summary>
    public static ModelProto Linear(int channels, int h, int w, int classes, int seed = 1, string output = "logits")
    {
        var rng = new Random(seed);
        int f = channels * h * w;
        var b = new GraphBuilder("linear");
        var x = b.Input("x", ElementType.Float, null, channels, h, w);
        var flat = b.Op("Flatten", [x], Attr.Int("axis", 1));
        var wt = b.ConstFloat("fc.weight", [f, classes], Enumerable.Range(0, f * classes).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray());
        var bias = b.ConstFloat("fc.bias", [classes], Enumerable.Range(0, classes).Select(_ => (float)(rng.NextDouble() * 0.2 - 0.1)).ToArray());
        b.OutputAs(b.Op("Add", [b.Op("MatMul", [flat, wt]), bias]), output, ElementType.Float, null, classes);
        return OnnxModel.Create(b.Graph);
    }

    /// <summary>A dataset of random bytes with labels cycling over <paramref name="classes"/>.</summary>
    public static ImageDataset Data(int n, int channels, int h, int w, int classes, int seed = 2)
    {
        var rng = new Random(seed);
        var px = new byte[n * channels * h * w];
        rng.NextBytes(px);
        var labels = Enumerable.Range(0, n).Select(i => (i * 7 + 3) % classes).ToArray();
        return new ImageDataset(px, labels, channels, h, w, Enumerable.Range(0, classes).Select(c => $"c{c}").ToArray(), "test data");
    }

    /// <summary>The reference: one InferenceSession.Run over all images normalised in double-free float arithmetic
    /// <c>(x/255 - mean)/std</c>, argmax on the host by ConfusionMatrix.AccumulateLogits.</summary>
    public static ConfusionMatrix Direct(ModelProto model, ImageDataset data, Normalization norm, int classes, string output = "logits")
    {
        int n = data.Count, size = data.ImageSize, plane = data.Height * data.Width;
        var x = new float[n * size];
        for (int i = 0; i < n; i++)
        {
            var img = data.Image(i);
            for (int k = 0; k < size; k++)
            {
                int c = k / plane;
                x[i * size + k] = (img[k] / 255f - norm.Mean[c]) / norm.Std[c];
            }
        }
        using var session = new InferenceSession(OnnxModel.ToBytes(model));
        using var input = OrtValue.CreateTensorValueFromMemory(x, [n, data.Channels, data.Height, data.Width]);
        using var outputs = session.Run(SharedRunOptions.Default, ["x"], [input], [output]);
        var m = new ConfusionMatrix(classes);
        m.AccumulateLogits(data.Labels, outputs[0].GetTensorDataAsSpan<float>());
        return m;
    }

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "acwa-eval-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }
}
