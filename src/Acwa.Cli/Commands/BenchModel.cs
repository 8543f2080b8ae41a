using Acwa.Onnx.Models;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Cli.Commands;

/// <summary>
/// The model and random data of the benchmarks (<c>bench step</c>, <c>bench train</c>): a built-in model or a model file,
/// one sample's input dims and the class count (<see cref="ModelCatalog.BenchInput"/>), and batches of its input type:
/// features and images uniform in [-1, 1], token ids (int64 input) uniform over the embedding table's rows.
/// </summary>
internal sealed record BenchModel(string Name, ModelProto Forward, int[] Sample, int Classes, long? Vocabulary)
{
    /// <summary>Resolves <paramref name="model"/> (a file is read once); errors name the model and what is wrong.</summary>
    public static BenchModel Load(string model)
    {
        var file = ModelCatalog.LoadFile(model); // null for a built-in name
        var (sample, classes) = ModelCatalog.BenchInput(model, file);
        var forward = file ?? ModelCatalog.Resolve(model, classes, sample[0], sample[1], sample[2], seed: 0);
        return new BenchModel(model, forward, sample, classes, ModelCatalog.TokenVocabulary(forward));
    }

    /// <summary>Values in one sample.</summary>
    public int SampleSize => Sample.Aggregate(1, (a, d) => a * d);

    /// <summary>One batch of <paramref name="n"/> random inputs: float[] or, for token ids, long[].</summary>
    public Array RandomInput(int n, Random rng) => Vocabulary is { } vocab
        ? Enumerable.Range(0, n * SampleSize).Select(_ => rng.NextInt64(vocab)).ToArray()
        : Enumerable.Range(0, n * SampleSize).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

    /// <summary>One batch of <paramref name="n"/> random labels in [0, classes).</summary>
    public long[] RandomLabels(int n, Random rng) => Enumerable.Range(0, n).Select(_ => (long)rng.Next(Classes)).ToArray();

    /// <summary><paramref name="count"/> batches of inputs and labels from one seed.</summary>
    public (Array[] X, long[][] Y) RandomBatches(int batch, int count, int seed)
    {
        var rng = new Random(seed);
        var xs = new Array[count];
        var ys = new long[count][];
        for (int b = 0; b < count; b++) (xs[b], ys[b]) = (RandomInput(batch, rng), RandomLabels(batch, rng));
        return (xs, ys);
    }

    /// <summary>A host OrtValue over a float or token-id batch (no copy).</summary>
    public static Microsoft.ML.OnnxRuntime.OrtValue InputValue(Array x, long[] shape) => x is long[] ids
        ? Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(ids, shape)
        : Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory((float[])x, shape);

    /// <summary>One training step on a float or token-id batch.</summary>
    public static StepResult TrainStep(StepRunner runner, Array x, long[] y, int n) =>
        x is long[] ids ? runner.TrainStep(ids, y, n) : runner.TrainStep((float[])x, y, n);

    /// <summary>One evaluation forward on a float or token-id batch.</summary>
    public static void Evaluate(StepRunner runner, Array x, int n)
    {
        if (x is long[] ids) runner.Evaluate(ids, n); else runner.Evaluate((float[])x, n);
    }
}
