using BenchmarkDotNet.Attributes;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Benchmarks;

/// <summary>BenchmarkDotNet version of the conv gradient comparison (CPU): one session per shape and piece.</summary>
[MemoryDiagnoser(false)]
public class ConvGradBenchmarks
{
    private static readonly RunOptions KeptAliveRunOptions = new(); // a temporary could be finalised while Run reads it
    private InferenceSession? _session;
    private List<OrtValue> _inputs = [];
    private string[] _names = [];
    private string[] _outputs = [];

    [ParamsSource(nameof(ShapeNames))] public string Shape { get; set; } = "";
    [ParamsSource(nameof(PieceNames))] public string Piece { get; set; } = "";

    public static IEnumerable<string> ShapeNames => ConvGradTimer.Shapes.Select(s => s.Name);
    public static IEnumerable<string> PieceNames => ConvGradTimer.Pieces.Select(p => p.Label);

    [GlobalSetup]
    public void Setup()
    {
        var s = ConvGradTimer.Shapes.First(x => x.Name == Shape);
        var p = ConvGradTimer.Pieces.First(x => x.Label == Piece);
        var model = ConvGradTimer.Build(s, p.Wrt, p.Options);
        _session = new InferenceSession(Graphs.OnnxModel.ToBytes(model));
        var rng = new Random(1);
        _names = _session.InputMetadata.Keys.ToArray();
        _outputs = _session.OutputMetadata.Keys.ToArray();
        foreach (var meta in _session.InputMetadata.Values)
        {
            var dims = meta.Dimensions.Select(d => d < 0 ? s.N : (long)d).ToArray();
            var data = new float[Graphs.Tensors.ElementCount(dims)];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() - 0.5);
            _inputs.Add(OrtValue.CreateTensorValueFromMemory(data, dims));
        }
    }

    [Benchmark]
    public void Run()
    {
        using var r = _session!.Run(KeptAliveRunOptions, _names, _inputs, _outputs);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var v in _inputs) v.Dispose();
        _inputs = [];
        _session?.Dispose();
    }
}
