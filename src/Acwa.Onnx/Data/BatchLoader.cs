using System.Runtime.CompilerServices;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Acwa.Onnx.Data;

/// <summary>
/// Turns an <see cref="ImageDataset"/> into mini-batches of normalised, optionally augmented float images, or a
/// <see cref="SampleDataset"/> into mini-batches of its samples as they are (floats, or token ids in <see cref="Batch.Ids"/>).
/// <para>
/// Determinism: batch b of epoch e is a pure function of (Seed, e, b): the epoch's order is a Fisher-Yates permutation
/// from a generator derived from (Seed, e), and the augmentation draws of batch b come from a generator derived from
/// (Seed, e, b). So <see cref="Epoch"/> and <see cref="Prefetch"/> yield identical batches whatever the timing, and a run
/// resumed at (e, b) with <c>Epoch(e, startBatch: b)</c> continues bit-identically: the position (epoch, next batch) is the
/// whole loader state a checkpoint needs.
/// </para>
/// <para>
/// An epoch has <c>ceil(N / BatchSize)</c> batches, or <c>floor(N / BatchSize)</c> with <see cref="BatchLoaderOptions.DropLast"/>.
/// Batches come in pooled buffers; dispose each one after use. Methods may be called from several threads.
/// </para>
/// </summary>
public sealed class BatchLoader
{
    private readonly ImageDataset? _data;
    private readonly SampleDataset? _samples;
    private readonly float[][] _lut;
    private readonly Augmentation _augmentation;
    private readonly BatchPool _pool;

    /// <summary>Creates a loader over <paramref name="data"/>.</summary>
    /// <exception cref="ArgumentException">Non-positive batch size or prefetch depth, or a normalisation for another channel count.</exception>
    public BatchLoader(ImageDataset data, BatchLoaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        options = Checked(options);
        var norm = options.Normalization ?? Normalization.Scale01(data.Channels);
        if (norm.Channels != data.Channels)
            throw new ArgumentException($"normalisation has {norm.Channels} channels, the dataset has {data.Channels}", nameof(options));
        var aug = options.Augmentation ?? Augmentation.None;
        if (aug.Pad < 0) throw new ArgumentException($"augmentation padding {aug.Pad} must not be negative", nameof(options));
        _data = data;
        Options = options;
        _augmentation = aug;
        _lut = Enumerable.Range(0, data.Channels).Select(norm.LookupTable).ToArray();
        _pool = new BatchPool(data.ImageSize);
    }

    /// <summary>Creates a loader over <paramref name="data"/>: samples go into the batches as they are.</summary>
    /// <exception cref="ArgumentException">Non-positive batch size or prefetch depth, or a normalisation or augmentation (images only).</exception>
    public BatchLoader(SampleDataset data, BatchLoaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        options = Checked(options);
        if (options.Normalization is not null || options.Augmentation is { IsIdentity: false })
            throw new ArgumentException($"normalisation and augmentation apply to images; {data} is fed as it is", nameof(options));
        _samples = data;
        Options = options;
        _augmentation = Augmentation.None;
        _lut = [];
        _pool = new BatchPool(data.SampleSize, data.IsTokenIds);
    }

    /// <summary>The options, defaulted and checked for what every loader needs (positive batch size and prefetch depth).</summary>
    private static BatchLoaderOptions Checked(BatchLoaderOptions? options)
    {
        options ??= new BatchLoaderOptions();
        if (options.BatchSize <= 0) throw new ArgumentException($"batch size {options.BatchSize} must be positive", nameof(options));
        if (options.PrefetchDepth <= 0) throw new ArgumentException($"prefetch depth {options.PrefetchDepth} must be positive", nameof(options));
        return options;
    }

    /// <summary>The settings.</summary>
    public BatchLoaderOptions Options { get; }

    /// <summary>The image dataset (null for a loader over a <see cref="SampleDataset"/>).</summary>
    public ImageDataset? Data => _data;

    /// <summary>The dataset, images or samples.</summary>
    public ILabeledDataset Dataset => _data is not null ? _data : _samples!;

    /// <summary>Batches per epoch (see the type description).</summary>
    public int BatchesPerEpoch => Options.DropLast ? Dataset.Count / Options.BatchSize : (Dataset.Count + Options.BatchSize - 1) / Options.BatchSize;

    internal BatchPool Pool => _pool;

    /// <summary>
    /// Data parallelism (docs/distributed.md): this loader is part <see cref="Part"/> of <see cref="Parts"/>. A training
    /// batch (<see cref="Epoch"/>, <see cref="Prefetch"/>, <see cref="CreateBatch"/>) then holds only this part's rows
    /// of the global batch of n rows (<see cref="SliceOf"/>: contiguous, sizes differing by at most one row, a last partial
    /// batch included; the last parts are empty when n &lt; Parts), with the augmentation those rows get in one process;
    /// <see cref="Sequential"/> visits this part's rows of the dataset the same way. Batch indices stay the global ones.
    /// </summary>
    internal int Part { get; private set; }

    /// <inheritdoc cref="Part"/>
    internal int Parts { get; private set; } = 1;

    /// <summary>Makes this loader part <paramref name="part"/> of <paramref name="parts"/> (before it is used).</summary>
    internal BatchLoader Sliced(int part, int parts)
    {
        if (parts < 1 || (uint)part >= (uint)parts) throw new ArgumentOutOfRangeException(nameof(part), part, $"part must be in [0, {parts})");
        Part = part; Parts = parts;
        return this;
    }

    /// <summary>
    /// Rows [lo, hi) of <paramref name="n"/> that part <see cref="Part"/> of <see cref="Parts"/> takes: contiguous, the
    /// first <c>n % Parts</c> parts one row more than the others, so part 0 is empty only when <paramref name="n"/> is 0.
    /// </summary>
    internal (int Lo, int Hi) SliceOf(int n)
    {
        int size = n / Parts, extra = n % Parts;
        int lo = Part * size + Math.Min(Part, extra);
        return (lo, lo + size + (Part < extra ? 1 : 0));
    }

    /// <summary>The order in which epoch <paramref name="epoch"/> visits the images (identity when not shuffling).</summary>
    public int[] EpochOrder(int epoch)
    {
        var order = new int[Dataset.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (Options.Shuffle) Xoshiro256StarStar.Derive(Options.Seed, 0x5E1F1E, (ulong)epoch).Shuffle(order.AsSpan());
        return order;
    }

    /// <summary>
    /// The batches of <paramref name="epoch"/> from <paramref name="startBatch"/> on, produced on the calling thread
    /// as the enumeration advances.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="startBatch"/> is outside <c>[0, BatchesPerEpoch]</c>.</exception>
    public IEnumerable<Batch> Epoch(int epoch, int startBatch = 0)
    {
        CheckStart(startBatch);
        return Iterate(epoch, startBatch);

        IEnumerable<Batch> Iterate(int e, int start)
        {
            var order = EpochOrder(e);
            for (int b = start; b < BatchesPerEpoch; b++) yield return Build(order, e, b, augment: true);
        }
    }

    /// <summary>
    /// Same batches as <see cref="Epoch"/>, produced by a background thread that runs up to
    /// <see cref="BatchLoaderOptions.PrefetchDepth"/> batches ahead (bounded blocking queue) so loading and augmentation
    /// overlap the consumer's compute. Disposing the enumerator early stops the producer and returns unread batches to
    /// the pool; an exception in the producer is rethrown to the consumer.
    /// </summary>
    public IEnumerable<Batch> Prefetch(int epoch, int startBatch = 0, CancellationToken cancellationToken = default)
    {
        CheckStart(startBatch);
        return Iterate(epoch, startBatch, cancellationToken);

        IEnumerable<Batch> Iterate(int e, int start, CancellationToken ct)
        {
            // Blocking hand-off on a dedicated thread: neither side needs a thread-pool thread, so a busy or starved
            // pool (a test runner, an ASP.NET host) cannot stall the pipeline.
            using var queue = new BlockingCollection<Batch>(new ConcurrentQueue<Batch>(), Options.PrefetchDepth);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Exception? error = null;
            var producer = Task.Factory.StartNew(() =>
            {
                try
                {
                    var order = EpochOrder(e);
                    for (int b = start; b < BatchesPerEpoch; b++)
                    {
                        var batch = Build(order, e, b, augment: true);
                        try { queue.Add(batch, cts.Token); }
                        catch { batch.Dispose(); throw; }
                    }
                }
                catch (OperationCanceledException) when (cts.IsCancellationRequested) { }
                catch (Exception ex) { Volatile.Write(ref error, ex); }
                finally { queue.CompleteAdding(); }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            try
            {
                foreach (var batch in queue.GetConsumingEnumerable(cts.Token)) yield return batch;
                // A cancelled producer completes the queue; the consumer must still see the cancellation.
                ct.ThrowIfCancellationRequested();
                producer.Wait(CancellationToken.None);
                if (Volatile.Read(ref error) is { } failure) ExceptionDispatchInfo.Capture(failure).Throw();
            }
            finally
            {
                cts.Cancel();
                producer.Wait(CancellationToken.None);
                while (queue.TryTake(out var left)) left.Dispose();
            }
        }
    }

    /// <summary>
    /// Evaluation order: all images in dataset order, no shuffling and no augmentation, the last partial batch always
    /// kept (whatever <see cref="BatchLoaderOptions.DropLast"/> says). Batches report epoch 0.
    /// </summary>
    public IEnumerable<Batch> Sequential()
    {
        var (lo, hi) = SliceOf(Dataset.Count);
        int n = hi - lo, bs = Options.BatchSize;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = lo + i;
        for (int b = 0; b * bs < n; b++) yield return Build(order, 0, b, augment: false, whole: true);
    }

    /// <summary>Builds batch <paramref name="index"/> of <paramref name="epoch"/> directly (the pure function behind every enumeration).</summary>
    public Batch CreateBatch(int epoch, int index)
    {
        if ((uint)index >= (uint)BatchesPerEpoch) throw new ArgumentOutOfRangeException(nameof(index), index, $"an epoch has {BatchesPerEpoch} batches");
        return Build(EpochOrder(epoch), epoch, index, augment: true);
    }

    private void CheckStart(int startBatch)
    {
        if ((uint)startBatch > (uint)BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(startBatch), startBatch, $"an epoch has {BatchesPerEpoch} batches");
    }

    private Batch Build(int[] order, int epoch, int index, bool augment, bool whole = false)
    {
        int bs = Options.BatchSize;
        int start = index * bs, count = Math.Min(bs, order.Length - start);
        int skip = 0; // rows of the global batch before this part's slice
        if (!whole && Parts > 1)
        {
            var (lo, hi) = SliceOf(count);
            skip = lo; start += lo; count = hi - lo;
        }
        var batch = _pool.Rent(count);
        batch.Epoch = epoch;
        batch.Index = index;
        if (_samples is not null)
        {
            batch.ImageShape = [count, .. _samples.SampleShape.Select(d => (long)d)];
            int n = _samples.SampleSize;
            for (int k = 0; k < count; k++)
            {
                int i = order[start + k];
                batch.Indices[k] = i;
                batch.Labels[k] = _samples.Label(i);
                if (_samples.IsTokenIds) _samples.Ids(i).CopyTo(batch.Ids.AsSpan(k * n, n));
                else _samples.Floats(i).CopyTo(batch.Images.AsSpan(k * n, n));
            }
            return batch;
        }
        var data = _data!;
        batch.ImageShape = [count, data.Channels, data.Height, data.Width];
        var rng = augment && !_augmentation.IsIdentity ? Xoshiro256StarStar.Derive(Options.Seed, 0xA0617, (ulong)epoch, (ulong)index) : null;
        // A slice draws what its rows draw in one process: the batch's stream advanced past the rows before it.
        for (int k = 0; rng is not null && k < skip; k++) _augmentation.Draw(rng);
        int size = data.ImageSize;
        for (int k = 0; k < count; k++)
        {
            int i = order[start + k];
            batch.Indices[k] = i;
            batch.Labels[k] = data.Label(i);
            var dst = batch.Images.AsSpan(k * size, size);
            if (rng is null) Normalize(data.Image(i), dst);
            else
            {
                var (oy, ox, flip) = _augmentation.Draw(rng);
                CropFlipNormalize(data.Image(i), dst, oy - _augmentation.Pad, ox - _augmentation.Pad, flip);
            }
        }
        return batch;
    }

    private void Normalize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int plane = _data!.Height * _data.Width;
        for (int c = 0; c < _lut.Length; c++)
        {
            var lut = _lut[c];
            var s = src.Slice(c * plane, plane);
            var d = dst.Slice(c * plane, plane);
            for (int p = 0; p < s.Length; p++) d[p] = lut[s[p]];
        }
    }

    /// <summary>out(y, x) = in(y + dy, x' + dx) with x' = W-1-x when flipping, else x; zero pixels outside.</summary>
    [SkipLocalsInit]
    private void CropFlipNormalize(ReadOnlySpan<byte> src, Span<float> dst, int dy, int dx, bool flip)
    {
        int h = _data!.Height, w = _data.Width, plane = h * w;
        for (int c = 0; c < _lut.Length; c++)
        {
            var lut = _lut[c];
            float zero = lut[0];
            for (int y = 0; y < h; y++)
            {
                var d = dst.Slice(c * plane + y * w, w);
                int sy = y + dy;
                if ((uint)sy >= (uint)h) { d.Fill(zero); continue; }
                var row = src.Slice(c * plane + sy * w, w);
                // Columns whose source lies inside the image: [x0, x1); the rest are padding.
                int x0 = Math.Min(w, flip ? Math.Max(0, dx) : Math.Max(0, -dx));
                int x1 = flip ? Math.Min(w, w + dx) : Math.Min(w, w - dx);
                d[..x0].Fill(zero);
                if (x1 > x0)
                {
                    d[x1..].Fill(zero);
                    if (flip) for (int x = x0; x < x1; x++) d[x] = lut[row[w - 1 - x + dx]];
                    else for (int x = x0; x < x1; x++) d[x] = lut[row[x + dx]];
                }
                else d.Fill(zero);
            }
        }
    }
}
