using System.Diagnostics;
using System.Globalization;
using Acwa.Onnx.Data;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Compiler.Losses;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Benchmarks;

/// <summary>
/// <c>flush MODEL.onnx [threads] [steps]</c>: the training step of a trained Fashion-MNIST classifier (e.g. the
/// <c>model.onnx</c> of an LDAM-DRW run) compiled with LDAM (s 30, step-imbalance margins) with and without
/// <see cref="ArtifactOptions.FlushGradientsBelow"/>, on the same real batches, alternating; prints the median step time
/// and the first losses of each (docs/training-graphs.md, "Tiny loss gradients").
/// </summary>
internal static class FlushReport
{
    public static int Run(string[] args)
    {
        if (args.Length < 1) { Console.Error.WriteLine("usage: flush MODEL.onnx [threads] [steps]"); return 2; }
        int threads = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1;
        int steps = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 12;
        var ds = FashionMnist.Load(train: true);
        const int n = 128;
        var rng = new Random(3);
        var normalize = Normalization.FashionMnist.LookupTable(0);
        var xs = new float[steps][];
        var ys = new long[steps][];
        for (int s = 0; s < steps; s++)
        {
            xs[s] = new float[n * 784];
            ys[s] = new long[n];
            for (int i = 0; i < n; i++)
            {
                int k = rng.Next(ds.Count);
                for (int j = 0; j < 784; j++) xs[s][i * 784 + j] = normalize[ds.Pixels[k * 784 + j]];
                ys[s][i] = ds.Labels[k];
            }
        }
        var model = OnnxModel.Load(args[0]);
        long[] counts = [5400, 5400, 5400, 5400, 5400, 540, 540, 540, 540, 540];
        var runs = new List<(string Name, StepRunner Runner, List<float> Losses, List<double> Ms)>();
        foreach (var flush in new[] { 0f, 1e-30f })
        {
            var dir = Directory.CreateTempSubdirectory("acwa-flush-").FullName;
            TrainingArtifacts.Generate(model, new ArtifactOptions
            {
                Loss = LossKind.Ldam, LdamMargins = LossMath.LdamMargins(counts, 0.5), LdamScale = 30, FlushGradientsBelow = flush,
            }, dir);
            runs.Add(($"flush below {flush.ToString("G", CultureInfo.InvariantCulture)}", new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = threads }), [], []));
        }
        for (int s = 0; s < steps; s++)
            foreach (var (_, r, losses, ms) in runs)
            {
                var sw = Stopwatch.StartNew();
                losses.Add(r.TrainStep(xs[s], ys[s], n).Loss);
                if (s > 0) ms.Add(sw.Elapsed.TotalMilliseconds); // the first step includes session warm-up
            }
        foreach (var (name, r, losses, ms) in runs)
        {
            ms.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: median {ms[ms.Count / 2]:F1} ms/step (min {ms[0]:F1}, max {ms[^1]:F1}), {threads} thread(s); losses {string.Join(" ", losses.Take(6).Select(l => l.ToString("F6", CultureInfo.InvariantCulture)))}"));
            r.Dispose();
        }
        return 0;
    }
}
