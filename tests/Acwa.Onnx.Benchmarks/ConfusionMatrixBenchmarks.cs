using System.Numerics.Tensors;
using Acwa.Onnx.Metrics;
using BenchmarkDotNet.Attributes;

namespace Acwa.Onnx.Benchmarks;

/// <summary>
/// Compares the confusion-matrix kernel paths (scalar, 128/256/512-bit; transposed vs strided-gather argmax) on
/// N x C fp32 logits, against TensorPrimitives.Sum over the same buffer (bandwidth reference).
/// Short run: <c>dotnet run -c Release --project tests/Acwa.Onnx.Benchmarks -- --filter *ConfusionMatrix* --job short</c>.
/// </summary>
[MemoryDiagnoser]
public class ConfusionMatrixBenchmarks
{
    private float[] _logits = [];
    private int[] _labels = [];
    private int[] _preds = [];
    private int[] _out = [];

    [Params(1_000_000)]
    public int N { get; set; }

    [Params(10)]
    public int C { get; set; }

    [ParamsSource(nameof(Paths))]
    public string Path { get; set; } = "";

    public static IEnumerable<string> Paths() => KernelDispatch.Supported.Select(p => p.ToString());

    private KernelPath P => Enum.Parse<KernelPath>(Path);

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _logits = new float[N * C];
        for (int i = 0; i < _logits.Length; i++) _logits[i] = (float)rng.NextDouble();
        _labels = new int[N];
        _preds = new int[N];
        for (int i = 0; i < N; i++)
        {
            _labels[i] = rng.Next(C);
            _preds[i] = rng.Next(4) == 0 ? rng.Next(C) : _labels[i];
        }
        _out = new int[N];
    }

    [Benchmark(Baseline = true)]
    public float SumReference() => TensorPrimitives.Sum<float>(_logits);

    [Benchmark]
    public bool ArgMaxTransposed() => ArgMaxKernel.Run(_logits, C, _out, P);

    [Benchmark]
    public bool ArgMaxGather() => ArgMaxKernel.RunGather(_logits, C, _out, P);

    [Benchmark]
    public long ConfusionFromLogits()
    {
        var m = new ConfusionMatrix(C);
        m.AccumulateLogitsCore(_labels, _logits, NanPolicy.Throw, P, 0);
        return m.Counts[0];
    }

    [Benchmark]
    public long ConfusionFromPredictions()
    {
        var m = new ConfusionMatrix(C);
        m.AccumulateCore<int>(_labels, _preds, P, 0);
        return m.Counts[0];
    }
}
