using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Training.Runtime;

/// <summary>
/// Pinned host buffers for one batch (x, y) and its host-side outputs (loss, predictions, logits), with OrtValues over
/// the first <see cref="BatchSize"/> rows. Buffers grow to the largest batch seen; the OrtValues are recreated only when
/// the batch size changes (<see cref="Version"/> counts that, so bindings know when to rebind). The input x is float32
/// (features, images) or, with <paramref name="int64Input"/>, int64 (token ids).
/// </summary>
internal sealed class HostBatch(long sampleSize, long[] inputShape, int numClasses, bool int64Input = false) : IDisposable
{
    private float[] _x = [];
    private long[] _ids = [];
    private long[] _y = [];
    private long[] _predictions = [];
    private float[] _logits = [];
    private readonly float[] _loss = new float[1];

    public int BatchSize { get; private set; } = -1;
    public int Version { get; private set; }
    public OrtValue? X { get; private set; }
    public OrtValue? Y { get; private set; }
    public OrtValue? Predictions { get; private set; }
    public OrtValue? Logits { get; private set; }
    public OrtValue? Loss { get; private set; }

    public Span<float> XSpan => _x.AsSpan(0, checked((int)(BatchSize * sampleSize)));
    public Span<long> IdsSpan => _ids.AsSpan(0, checked((int)(BatchSize * sampleSize)));
    public Span<long> YSpan => _y.AsSpan(0, BatchSize);
    public ReadOnlySpan<long> PredictionSpan => _predictions.AsSpan(0, BatchSize);
    public ReadOnlySpan<float> LogitSpan => _logits.AsSpan(0, BatchSize * numClasses);
    public float LossValue => _loss[0];

    public void EnsureBatchSize(int n)
    {
        if (n == BatchSize) return;
        DisposeValues();
        long xs = checked(n * sampleSize);
        if (int64Input) { if (_ids.Length < xs) _ids = new long[xs]; }
        else if (_x.Length < xs) _x = new float[xs];
        if (_y.Length < n) { _y = new long[n]; _predictions = new long[n]; _logits = new float[checked(n * numClasses)]; }
        var shape = (long[])inputShape.Clone();
        shape[0] = n;
        X = int64Input
            ? OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _ids.AsMemory(0, (int)xs), shape)
            : OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _x.AsMemory(0, (int)xs), shape);
        Y = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _y.AsMemory(0, n), [n]);
        Predictions = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _predictions.AsMemory(0, n), [n]);
        Logits = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _logits.AsMemory(0, n * numClasses), [n, numClasses]);
        Loss ??= OrtValue.CreateTensorValueFromMemory(_loss, []);
        BatchSize = n;
        Version++;
    }

    private void DisposeValues()
    {
        X?.Dispose(); Y?.Dispose(); Predictions?.Dispose(); Logits?.Dispose();
        X = Y = Predictions = Logits = null;
    }

    public void Dispose()
    {
        DisposeValues();
        Loss?.Dispose();
        Loss = null;
    }
}
