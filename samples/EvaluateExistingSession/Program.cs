using Acwa.Onnx.Data;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Integration;
using Acwa.Onnx.Metrics;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Samples.EvaluateExistingSession;

/// <summary>
/// You already run an ONNX classifier with your own <see cref="InferenceSession"/> loop; this sample shows the two lines
/// that add a confusion matrix and a per-class report to it. The "existing model" is a nearest-class-mean classifier
/// over Fashion-MNIST built in memory (logits_c = x . mu_c - |mu_c|^2 / 2), so the report is meaningful without training;
/// when Fashion-MNIST is not installed the sample uses a small synthetic set instead.
/// </summary>
public static class EvaluateExistingSessionSample
{
    public static int Main() => Run(Console.Out);

    /// <summary>Runs the sample, writing to <paramref name="output"/>; returns 0.</summary>
    public static int Run(TextWriter output, int maxImages = 2000)
    {
        var (train, test) = FashionMnist.IsAvailable()
            ? (FashionMnist.Load(true), FashionMnist.Load(false))
            : (Synthetic(600, 1), Synthetic(300, 2));
        int n = Math.Min(maxImages, test.Count), size = test.ImageSize, classes = test.ClassCount;
        byte[] model = NearestMeanModel(train);

        // --- your existing code: a session and a loop over batches ---
        using var session = new InferenceSession(model);
        var matrix = new ConfusionMatrix(classes);                   // (1) one matrix for the whole pass
        const int batch = 256;
        var x = new float[batch * size];
        for (int start = 0; start < n; start += batch)
        {
            int count = Math.Min(batch, n - start);
            for (int i = 0; i < count * size; i++) x[i] = test.Pixels[start * size + i] / 255f;
            using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, x.AsMemory(0, count * size), [count, size]);
            using var outputs = session.Run(new RunOptions(), ["x"], [input], ["logits"]);
            matrix.AccumulateLogits(test.Labels.Slice(start, count), outputs[0]);   // (2) straight from the logits OrtValue
        }
        // --- end of your code ---

        var report = ClassificationReport.Create(matrix, test.ClassNames);
        output.WriteLine($"{n} images of {test.Source}");
        output.WriteLine("class        precision  recall     f1  support");
        foreach (var c in report.Classes)
            output.WriteLine($"{c.Name,-12} {c.Precision,9:0.000} {c.Recall,7:0.000} {c.F1,6:0.000} {c.Support,8}");
        output.WriteLine($"accuracy {report.Accuracy:0.0000}, macro F1 {report.MacroF1:0.0000}, balanced accuracy {report.BalancedAccuracy:0.0000}");
        return 0;
    }

    /// <summary>x [N, H*W] (x/255) -> MatMul mu^T -> Add -|mu|^2/2 -> logits [N, C].</summary>
    private static byte[] NearestMeanModel(ImageDataset train)
    {
        int d = train.ImageSize, c = train.ClassCount;
        var mu = new double[c * d];
        var counts = train.ClassCounts();
        for (int i = 0; i < train.Count; i++)
        {
            var img = train.Image(i);
            int y = train.Label(i);
            for (int k = 0; k < d; k++) mu[y * d + k] += img[k] / 255.0 / counts[y];
        }
        var w = new float[d * c];
        var b = new float[c];
        for (int j = 0; j < c; j++)
            for (int k = 0; k < d; k++)
            {
                w[k * c + j] = (float)mu[j * d + k];
                b[j] -= (float)(mu[j * d + k] * mu[j * d + k] / 2);
            }
        var g = new GraphBuilder("nearest_mean");
        var x = g.Input("x", ElementType.Float, null, d);
        g.OutputAs(g.Op("Add", [g.Op("MatMul", [x, g.ConstFloat("w", [d, c], w)]), g.ConstFloat("b", [c], b)]), "logits", ElementType.Float, null, c);
        return OnnxModel.ToBytes(OnnxModel.Create(g.Graph));
    }

    /// <summary>Three classes of 4x4 images: bright top half, bright bottom half, all mid-grey; noisy.</summary>
    private static ImageDataset Synthetic(int n, int seed)
    {
        var rng = new Random(seed);
        var px = new byte[n * 16];
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = i % 3;
            for (int k = 0; k < 16; k++)
            {
                int baseValue = labels[i] switch { 0 => k < 8 ? 200 : 40, 1 => k < 8 ? 40 : 200, _ => 120 };
                px[i * 16 + k] = (byte)Math.Clamp(baseValue + rng.Next(-60, 61), 0, 255);
            }
        }
        return new ImageDataset(px, labels, 1, 4, 4, ["top", "bottom", "grey"], "synthetic 4x4 images");
    }
}
