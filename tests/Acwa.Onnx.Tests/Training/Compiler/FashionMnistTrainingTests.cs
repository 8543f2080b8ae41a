using System.Diagnostics;
using System.IO.Compression;
using Acwa.Onnx.Data;
using Acwa.Onnx.Training.Compiler;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace Acwa.Onnx.Tests.Training.Compiler;

public class FashionMnistTrainingTests(ITestOutputHelper log)
{
    /// <summary>
    /// Tiny IDX reader (gz): the first <paramref name="count"/> images as floats in [0, 1] and their labels, from the full
    /// set when installed, else from the embedded subset (the same official file names).
    /// </summary>
    private static (float[] X, long[] Y) Load(string prefix, int count)
    {
        static byte[] ReadGz(string name, int headerBytes, int bytes)
        {
            using var file = FashionMnist.IsAvailable() ? File.OpenRead(Path.Combine(FashionMnist.DefaultDirectory, name)) : FashionMnist.OpenEmbedded(name);
            using var gz = new GZipStream(file, CompressionMode.Decompress);
            var buf = new byte[headerBytes + bytes];
            gz.ReadExactly(buf);
            return buf;
        }
        var img = ReadGz($"{prefix}-images-idx3-ubyte.gz", 16, count * 784);
        var lab = ReadGz($"{prefix}-labels-idx1-ubyte.gz", 8, count);
        Assert.Equal(2051, (img[2] << 8) | img[3]);
        Assert.Equal(2049, (lab[2] << 8) | lab[3]);
        return (img.Skip(16).Select(v => v / 255f).ToArray(), lab.Skip(8).Select(v => (long)v).ToArray());
    }

    [Acwa.Onnx.Tests.Data.FashionMnistFact]
    public void MlpTrainsOnFashionMnistSubset()
    {
        var (xTrain, yTrain) = Load("train", 2000);
        var (xTest, yTest) = Load("t10k", 1000);
        var set = TrainingArtifacts.Compile(TestModels.Mlp([784, 64, 10], 7), new ArtifactOptions { Optimizer = OptimizerKind.Adam, LearningRate = 2e-3f });
        using var r = new HostStepLoop(set);
        var sw = Stopwatch.StartNew();
        const int batch = 64, steps = 300;
        var order = Enumerable.Range(0, 2000).ToArray();
        var rng = new Random(0);
        var losses = new List<float>();
        int pos = 2000;
        for (int s = 0; s < steps; s++)
        {
            if (pos + batch > 2000) { rng.Shuffle(order); pos = 0; }
            var x = new float[batch * 784]; var y = new long[batch];
            for (int i = 0; i < batch; i++)
            {
                int k = order[pos + i];
                Array.Copy(xTrain, k * 784, x, i * 784, 784);
                y[i] = yTrain[k];
            }
            pos += batch;
            losses.Add(r.Step(x, y));
        }
        var m = set.Manifest;
        using var eval = new Ort(set.EvalModel);
        var feeds = new List<NamedOnnxValue> { Ort.F(m.InputName, xTest, 1000, 784), Ort.L(m.LabelName, yTest, 1000) };
        foreach (var name in m.EvalStateInputs) { var t = r.State[name]; feeds.Add(Ort.F(name, t.Data!, t.Shape.Select(d => (int)d).ToArray())); }
        var res = eval.Run(feeds);
        var pred = (long[])res[m.PredictionsOutput];
        double acc = pred.Zip(yTest).Count(p => p.First == p.Second) / 1000.0;
        long diag = 0; var conf = (long[])res[m.EvalConfusionOutput];
        for (int c = 0; c < 10; c++) diag += conf[c * 11];
        sw.Stop();

        double first = losses.Take(20).Average(), last = losses.TakeLast(20).Average();
        Assert.True(last < 0.6 * first, $"loss did not fall enough: first 20 steps {first:F3}, last 20 {last:F3}");
        Assert.True(acc > 0.7, $"held-out accuracy {acc:F3}");
        Assert.Equal((long)Math.Round(acc * 1000), diag);
        log.WriteLine($"fashion-mnist ({FashionMnist.DefaultOrigin}) MLP 784-64-10, 2000 images, {steps} Adam steps: loss {first:F3} -> {last:F3}, held-out accuracy {acc:F3}, {sw.Elapsed.TotalSeconds:F2} s");
    }
}
