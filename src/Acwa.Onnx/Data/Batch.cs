namespace Acwa.Onnx.Data;

/// <summary>
/// One mini-batch: normalised images as a float <c>[Count, C, H, W]</c> array (or the samples of a
/// <see cref="SampleDataset"/>: floats in <see cref="Images"/>, token ids in <see cref="Ids"/>) and int64 labels, in buffers that belong to the
/// <see cref="BatchLoader"/>'s pool. <see cref="Dispose"/> hands the buffers back; after that the arrays may be refilled
/// with another batch at any time, so copy what must outlive the batch. Not disposing only costs fresh allocations.
/// </summary>
public sealed class Batch : IDisposable
{
    private readonly BatchPool? _pool;
    private int _returned;

    internal Batch(BatchPool? pool, int count, int sampleSize, bool tokenIds = false)
    {
        _pool = pool;
        Images = tokenIds ? [] : new float[(long)count * sampleSize];
        Ids = tokenIds ? new long[(long)count * sampleSize] : [];
        Labels = new long[count];
        Indices = new int[count];
    }

    /// <summary>Epoch this batch belongs to (0 for <see cref="BatchLoader.Sequential"/>).</summary>
    public int Epoch { get; internal set; }

    /// <summary>Position of the batch within its epoch, from 0.</summary>
    public int Index { get; internal set; }

    /// <summary>Number of images; smaller than the batch size only for a kept last partial batch.</summary>
    public int Count => Labels.Length;

    /// <summary>Normalised pixels, <c>[Count, C, H, W]</c> row-major; exactly <c>Count*C*H*W</c> long. Valid until <see cref="Dispose"/>.</summary>
    public float[] Images { get; }

    /// <summary>Token ids, <c>[Count, ...]</c> row-major, for a <see cref="SampleDataset"/> of token ids (else empty). Valid until <see cref="Dispose"/>.</summary>
    public long[] Ids { get; }

    /// <summary>Labels, one per image. Valid until <see cref="Dispose"/>.</summary>
    public long[] Labels { get; }

    /// <summary>Index of each image in the loader's dataset. Valid until <see cref="Dispose"/>.</summary>
    public int[] Indices { get; }

    /// <summary>Shape of the batch's samples: <c>[Count, C, H, W]</c> for images, <c>[Count, ...SampleShape]</c> for a <see cref="SampleDataset"/>.</summary>
    public long[] ImageShape { get; internal set; } = [];

    internal void Rent() => Volatile.Write(ref _returned, 0);

    /// <summary>Returns the buffers to the pool; later calls do nothing.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _returned, 1) == 0) _pool?.Return(this);
    }
}
