using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Acwa.Onnx.Data;
using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Models;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Cli.Commands;

/// <summary>Options of <c>acwa bench eval</c>.</summary>
internal sealed record BenchEvalOptions
{
    /// <summary>Built-in models: cnn, mlp (Fashion-MNIST test images, or synthetic ones of that shape), resnet20, resnet32 (synthetic CIFAR-shaped images).</summary>
    public IReadOnlyList<string> Models { get; init; } = ["cnn", "resnet32"];

    /// <summary>Images per forward pass.</summary>
    public int Batch { get; init; } = 256;

    public Device Device { get; init; } = Device.Cpu;

    /// <summary>Measured repeats (each runs the three modes in turn).</summary>
    public int Repeats { get; init; } = 5;

    /// <summary>Images per pass for the 28x28 models (at most the 10,000 test images).</summary>
    public int CnnImages { get; init; } = 10_000;

    /// <summary>Synthetic images per pass for the 32x32 models.</summary>
    public int ResNetImages { get; init; } = 1024;

    /// <summary>CPU intra-op threads (null: one per core).</summary>
    public int? Threads { get; init; }

    /// <summary>When set, the results are also written there as JSON (<see cref="BenchJson"/>).</summary>
    public string? JsonPath { get; init; }
}

/// <summary>Throughputs (images/s) of one model over the repeats: (a) bare forward, (b) the Evaluator, (c) a naive Run loop.</summary>
internal sealed record BenchEvalRow(string Model, string Data, int Images, Measured ForwardImagesPerS, Measured EvaluatorImagesPerS, Measured NaiveImagesPerS)
{
    /// <summary>Median over the repeats of (b)/(a) measured within the same repeat (robust to load that shifts between repeats).</summary>
    public double EvaluatorOverForward => Measured.MedianOf(EvaluatorImagesPerS.Values.Zip(ForwardImagesPerS.Values, (e, f) => e / f).ToArray());

    /// <summary>Median over the repeats of (b)/(c) within the same repeat.</summary>
    public double EvaluatorOverNaive => Measured.MedianOf(EvaluatorImagesPerS.Values.Zip(NaiveImagesPerS.Values, (e, c) => e / c).ToArray());
}

/// <summary>
/// <c>acwa bench eval</c>: images/s of (a) the bare forward pass over batches already in memory (IOBinding, preallocated
/// buffers), (b) the <see cref="Evaluator"/> end to end (normalise from bytes, upload, forward, metrics), (c) a plain
/// loop of <see cref="InferenceSession.Run(IReadOnlyCollection{NamedOnnxValue})"/> with new tensors per batch. The three
/// are measured in turn inside every repeat (after one warm-up of each), so machine noise hits all of them.
/// </summary>
internal static class BenchEvalCommand
{
    public static Command Create()
    {
        var models = new Option<string>("--model", "--models") { Description = "Comma-separated models (as bench step and bench train): cnn (1x28x28, Fashion-MNIST test set), resnet32, resnet20 (3x32x32, synthetic CIFAR-shaped data), mlp.", DefaultValueFactory = _ => "cnn,resnet32" };
        var batch = new Option<int>("--batch") { Description = "Images per forward pass.", DefaultValueFactory = _ => 256 };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        var repeats = new Option<int>("--repeats") { Description = "Measured repeats (medians and min-max reported).", DefaultValueFactory = _ => 5 };
        var cnnImages = new Option<int>("--cnn-images") { Description = "Images per pass for 28x28 models (at most the 10,000 test images).", DefaultValueFactory = _ => 10_000 };
        var resImages = new Option<int>("--resnet-images") { Description = "Synthetic images per pass for 32x32 models.", DefaultValueFactory = _ => 1024 };
        var threads = new Option<int?>("--threads") { Description = "CPU intra-op threads (default: one per core)." };
        var json = BenchCommand.JsonOption();
        var cmd = new Command("eval", "Evaluation throughput: bare forward vs the Evaluator vs a naive InferenceSession.Run loop.")
        {
            models, batch, device, repeats, cnnImages, resImages, threads, json,
        };
        cmd.SetAction(pr =>
        {
            try
            {
                Run(new BenchEvalOptions
                {
                    Models = BenchCommand.SplitModels(pr.GetValue(models)!), Batch = pr.GetValue(batch), Device = Device.Parse(pr.GetValue(device)!),
                    Repeats = pr.GetValue(repeats), CnnImages = pr.GetValue(cnnImages), ResNetImages = pr.GetValue(resImages),
                    Threads = pr.GetValue(threads), JsonPath = pr.GetValue(json),
                }, pr.InvocationConfiguration.Output);
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or FormatException or DeviceUnavailableException or OnnxRuntimeException or InvalidDataException or IOException)
            { return ConsoleOutput.Fail(pr.InvocationConfiguration.Error, e.Message); }
        });
        return cmd;
    }

    /// <summary>Runs the benchmark, prints the table and writes the JSON file when asked; returns the rows.</summary>
    public static List<BenchEvalRow> Run(BenchEvalOptions o, TextWriter output)
    {
        if (o.Repeats < 1 || o.Batch < 1 || o.CnnImages < 1 || o.ResNetImages < 1) throw new ArgumentException("--repeats, --batch and image counts must be positive");
        if (BenchJson.CheckPath(o.JsonPath) is { } bad) throw new ArgumentException(bad);
        var device = o.Device;
        output.WriteLine($"acwa bench eval: device {device}, batch {o.Batch}, {o.Repeats} repeats, {Environment.ProcessorCount} logical cores, "
                         + $"intra-op threads {o.Threads?.ToString(CultureInfo.InvariantCulture) ?? "one per core"}");
        var rows = new List<BenchEvalRow>();
        foreach (var name in o.Models)
        {
            var (model, data, norm) = Load(name, o);
            output.WriteLine($"{name}: {data}");
            rows.Add(Measure(name, model, data, norm, device, o, output));
        }
        output.WriteLine();
        output.WriteLine("model     | (a) forward img/s        | (b) evaluator img/s      | (c) naive Run img/s      | (b)/(a) | (b)/(c)");
        output.WriteLine("----------|--------------------------|--------------------------|--------------------------|---------|--------");
        foreach (var r in rows)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Model,-9} | {Cell(r.ForwardImagesPerS),-24} | {Cell(r.EvaluatorImagesPerS),-24} | {Cell(r.NaiveImagesPerS),-24} | {r.EvaluatorOverForward,7:0.000} | {r.EvaluatorOverNaive,6:0.00}"));
        output.WriteLine("cells: median [min - max] over the repeats; ratios: median over the repeats of the ratio within each repeat.");
        if (o.JsonPath is not null)
        {
            var doc = BenchJson.Header("acwa bench eval");
            doc["device"] = device.ToString();
            doc["options"] = BenchJson.Node(new { o.Batch, o.Repeats, o.CnnImages, ResnetImages = o.ResNetImages, o.Threads });
            doc["models"] = BenchJson.Node(rows);
            BenchJson.Write(o.JsonPath, doc);
            output.WriteLine($"results written to {o.JsonPath}");
        }
        return rows;
    }

    private static string Cell(Measured v) => string.Create(CultureInfo.InvariantCulture, $"{v.Median,7:0} [{v.Min:0} - {v.Max:0}]");

    private static (ModelProto Model, ImageDataset Data, Normalization Norm) Load(string name, BenchEvalOptions o)
    {
        if (!ModelCatalog.BuiltinNames.Contains(name))
            throw new ArgumentException($"unknown model '{name}' (known: {string.Join(", ", ModelCatalog.BuiltinNames)})");
        var (c, h, w) = ModelCatalog.DefaultInput(name);
        // Built in memory by the same builders as models/*.onnx (byte-identical, checked by BuiltinModelsTests): random weights, so only speed matters.
        var model = ModelCatalog.Resolve(name, 10, c, h, w, seed: 0);
        if (name is "cnn" or "mlp")
        {
            ImageDataset test = FashionMnist.IsAvailable() ? FashionMnist.Load(false)
                : Synthetic(10_000, 1, 28, "synthetic Fashion-MNIST-shaped data (Fashion-MNIST not found)");
            if (o.CnnImages < test.Count) test = test.Subset(Enumerable.Range(0, o.CnnImages).ToArray(), $"first {o.CnnImages} of {test.Source}");
            return (model, test, Normalization.FashionMnist);
        }
        return (model, Synthetic(o.ResNetImages, 3, 32, "synthetic CIFAR-shaped data: random bytes and labels (CIFAR-10 is not available here)"), Normalization.Cifar10);
    }

    private static ImageDataset Synthetic(int n, int channels, int side, string source)
    {
        var rng = new Random(1234);
        var pixels = new byte[n * channels * side * side];
        rng.NextBytes(pixels);
        var labels = Enumerable.Range(0, n).Select(_ => rng.Next(10)).ToArray();
        return new ImageDataset(pixels, labels, channels, side, side, Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray(), source);
    }

    private static BenchEvalRow Measure(string name, ModelProto model, ImageDataset data, Normalization norm, Device device, BenchEvalOptions o, TextWriter output)
    {
        using var evaluator = new Evaluator(model, new EvaluatorOptions { Device = device, BatchSize = o.Batch, IntraOpThreads = o.Threads });
        using var naiveOptions = SessionOptionsFactory.Create(device, o.Threads);
        using var naive = new InferenceSession(OnnxModel.ToBytes(model), naiveOptions);
        int n = data.Count, b = evaluator.FixedBatch ?? Math.Min(o.Batch, n);
        long[] shape = data.Height > 0 && evaluator.InputDims.Count == 2 ? [1, (long)data.ImageSize] : [1, data.Channels, data.Height, data.Width];

        // (a): the model's bound forward passes alone, on images normalised once.
        double Forward() => evaluator.ForwardImagesPerSecond(data, norm);
        double Eval() => evaluator.Evaluate(data, norm).ImagesPerSecond;
        double Naive() => NaiveLoop(naive, evaluator.InputName, evaluator.OutputName, data, norm, b, shape);

        Forward(); Eval(); Naive(); // warm-up
        var a = new double[o.Repeats];
        var e = new double[o.Repeats];
        var c = new double[o.Repeats];
        for (int r = 0; r < o.Repeats; r++)
        {
            // rotate the order each repeat so that no mode always runs first (or right after another)
            for (int k = 0; k < 3; k++)
                switch ((r + k) % 3)
                {
                    case 0: a[r] = Forward(); break;
                    case 1: e[r] = Eval(); break;
                    default: c[r] = Naive(); break;
                }
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name} repeat {r + 1}: forward {a[r]:0}, evaluator {e[r]:0}, naive {c[r]:0} images/s"));
        }
        return new BenchEvalRow(name, data.Source, n, Measured.Of(a), Measured.Of(e), Measured.Of(c));
    }

    /// <summary>What a first-time user writes: a new array and DenseTensor per batch, Run with NamedOnnxValue, argmax by hand.</summary>
    private static double NaiveLoop(InferenceSession session, string input, string outputName, ImageDataset data, Normalization norm, int batch, long[] shape)
    {
        var sw = Stopwatch.StartNew();
        int n = data.Count, size = data.ImageSize, plane = data.Height * data.Width;
        var counts = new long[100 * 100];
        for (int start = 0; start < n; start += batch)
        {
            int count = Math.Min(batch, n - start);
            var x = new float[count * size];
            for (int k = 0; k < count; k++)
            {
                var img = data.Image(start + k);
                for (int i = 0; i < size; i++)
                {
                    int ch = i / plane;
                    x[k * size + i] = (img[i] / 255f - norm.Mean[ch]) / norm.Std[ch];
                }
            }
            var dims = shape.Select(d => (int)d).ToArray();
            dims[0] = count;
            var tensor = new DenseTensor<float>(x, dims);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor(input, tensor)]);
            var logits = results.First(r => r.Name == outputName).AsTensor<float>().ToArray();
            int classes = logits.Length / count;
            for (int k = 0; k < count; k++)
            {
                int best = 0;
                for (int j = 1; j < classes; j++) if (logits[k * classes + j] > logits[k * classes + best]) best = j;
                counts[(data.Label(start + k) * classes + best) % counts.Length]++;
            }
        }
        return n / sw.Elapsed.TotalSeconds;
    }
}
