using System.Collections.Concurrent;

namespace Acwa.Onnx.Data;

/// <summary>
/// Reusable <see cref="Batch"/> objects of exact sizes, keyed by image count. Renting never blocks: an empty pool allocates.
/// At most <see cref="MaxRetained"/> batches per size are kept; extra returns are left to the GC.
/// </summary>
internal sealed class BatchPool(int sampleSize, bool tokenIds = false)
{
    internal const int MaxRetained = 8;
    private readonly ConcurrentDictionary<int, ConcurrentBag<Batch>> _free = new();
    private int _allocated;

    /// <summary>How many batch objects this pool has created (tests check that buffers are reused).</summary>
    internal int Allocated => _allocated;

    internal Batch Rent(int count)
    {
        if (_free.TryGetValue(count, out var bag) && bag.TryTake(out var b))
        {
            b.Rent();
            return b;
        }
        Interlocked.Increment(ref _allocated);
        return new Batch(this, count, sampleSize, tokenIds);
    }

    internal void Return(Batch b)
    {
        var bag = _free.GetOrAdd(b.Count, _ => []);
        if (bag.Count < MaxRetained) bag.Add(b);
    }
}
