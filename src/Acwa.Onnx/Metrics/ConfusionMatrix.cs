using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Numerics.Tensors;

namespace Acwa.Onnx.Metrics;

/// <summary>
/// A <c>C x C</c> confusion matrix with 64-bit counts: row = true label, column = predicted class
/// (the layout of <c>sklearn.metrics.confusion_matrix</c> with <c>labels=range(C)</c>).
/// </summary>
/// <remarks>
/// <para>Accumulate from label / prediction spans or from labels plus row-major logits <c>[N x C]</c>
/// (prediction = argmax of the row, ties to the lowest index like <c>numpy.argmax</c>; see <see cref="NanPolicy"/>
/// for rows holding NaN). Every accumulate call is all-or-nothing: on any exception the matrix is unchanged.</para>
/// <para>An instance is not thread-safe. To use several threads, accumulate per-thread partial matrices and merge
/// them with <see cref="Add"/>, or call <see cref="ComputeParallel(ReadOnlyMemory{int}, ReadOnlyMemory{int}, int, int)"/>.</para>
/// </remarks>
[SkipLocalsInit]
public sealed class ConfusionMatrix
{
    /// <summary>Largest supported class count (keeps cell indices and the matrix size reasonable).</summary>
    public const int MaxClasses = 32768;

    private const int Chunk = 2048;

    private readonly long[] _counts;
    private readonly long[] _invalid;

    /// <summary>Creates an empty matrix for <paramref name="classes"/> classes.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="classes"/> is not in <c>[1, MaxClasses]</c>.</exception>
    public ConfusionMatrix(int classes)
    {
        if (classes < 1 || classes > MaxClasses)
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"class count must be in [1, {MaxClasses}]");
        Classes = classes;
        _counts = new long[(long)classes * classes];
        _invalid = new long[classes];
    }

    /// <summary>Number of classes <c>C</c>.</summary>
    public int Classes { get; }

    /// <summary>Count of samples with true label <paramref name="trueLabel"/> predicted as <paramref name="predicted"/>.</summary>
    public long this[int trueLabel, int predicted]
    {
        get
        {
            if ((uint)trueLabel >= (uint)Classes) throw new ArgumentOutOfRangeException(nameof(trueLabel), trueLabel, $"must be in [0, {Classes})");
            if ((uint)predicted >= (uint)Classes) throw new ArgumentOutOfRangeException(nameof(predicted), predicted, $"must be in [0, {Classes})");
            return _counts[(long)trueLabel * Classes + predicted];
        }
    }

    /// <summary>All counts, row-major <c>[true, predicted]</c>, length <c>C * C</c>. Valid until the next mutation.</summary>
    public ReadOnlySpan<long> Counts => _counts;

    /// <summary>
    /// Per true class, rows counted as wrong because their logits held NaN (<see cref="NanPolicy.CountAsWrong"/>);
    /// all zero otherwise. Length <c>C</c>.
    /// </summary>
    public ReadOnlySpan<long> InvalidCounts => _invalid;

    /// <summary>Replaces the counts on every rank by their sums over all ranks (a data-parallel run's sharded evaluation).</summary>
    internal void AllReduceSum(Distributed.ICommunicator communicator)
    {
        communicator.AllReduceSum(_counts);
        communicator.AllReduceSum(_invalid);
    }

    /// <summary>All samples accumulated, including <see cref="InvalidTotal"/>.</summary>
    public long Total => TensorPrimitives.Sum<long>(_counts) + InvalidTotal;

    /// <summary>Samples whose logits held NaN and were counted as wrong.</summary>
    public long InvalidTotal => TensorPrimitives.Sum<long>(_invalid);

    /// <summary>Number of correctly classified samples (the trace).</summary>
    public long Correct
    {
        get
        {
            long s = 0;
            for (int c = 0; c < Classes; c++) s += _counts[(long)c * Classes + c];
            return s;
        }
    }

    /// <summary>Support of class <paramref name="c"/>: samples whose true label is <paramref name="c"/> (row sum plus invalid rows).</summary>
    public long Support(int c) => TensorPrimitives.Sum<long>(Row(c)) + _invalid[c];

    /// <summary>Samples predicted as class <paramref name="c"/> (column sum).</summary>
    public long PredictedCount(int c)
    {
        if ((uint)c >= (uint)Classes) throw new ArgumentOutOfRangeException(nameof(c), c, $"must be in [0, {Classes})");
        long s = 0;
        for (int r = 0; r < Classes; r++) s += _counts[(long)r * Classes + c];
        return s;
    }

    private ReadOnlySpan<long> Row(int c)
    {
        if ((uint)c >= (uint)Classes) throw new ArgumentOutOfRangeException(nameof(c), c, $"must be in [0, {Classes})");
        return _counts.AsSpan((int)((long)c * Classes), Classes);
    }

    /// <summary>Counts one sample per index.</summary>
    /// <exception cref="ArgumentException">The spans differ in length.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label or prediction is outside <c>[0, C)</c>; the message names the
    /// span, the sample index and the value.</exception>
    public void Accumulate(ReadOnlySpan<int> labels, ReadOnlySpan<int> predictions) =>
        AccumulateCore(labels, predictions, KernelDispatch.Best, 0);

    /// <inheritdoc cref="Accumulate(ReadOnlySpan{int}, ReadOnlySpan{int})"/>
    public void Accumulate(ReadOnlySpan<long> labels, ReadOnlySpan<long> predictions) =>
        AccumulateCore(labels, predictions, KernelDispatch.Best, 0);

    /// <summary>
    /// Counts one sample per row of <paramref name="logits"/> (row-major <c>[N x C]</c>, N = labels.Length): the
    /// prediction is the row's argmax, ties to the lowest index; <c>+inf</c>/<c>-inf</c> compare normally.
    /// </summary>
    /// <exception cref="ArgumentException">The logits length is not a multiple of <c>C</c>, or not <c>N * C</c>; or a row
    /// holds NaN under <see cref="NanPolicy.Throw"/> (the message names the row).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label is outside <c>[0, C)</c>.</exception>
    public void AccumulateLogits(ReadOnlySpan<int> labels, ReadOnlySpan<float> logits, NanPolicy nanPolicy = NanPolicy.Throw) =>
        AccumulateLogitsCore(labels, logits, nanPolicy, KernelDispatch.Best, 0);

    /// <summary>Half-precision logits: converted to fp32 (exactly, block by block) then counted as in the fp32 overload.</summary>
    /// <inheritdoc cref="AccumulateLogits(ReadOnlySpan{int}, ReadOnlySpan{float}, NanPolicy)"/>
    public void AccumulateLogits(ReadOnlySpan<int> labels, ReadOnlySpan<Half> logits, NanPolicy nanPolicy = NanPolicy.Throw) =>
        AccumulateConverted(labels, logits, nanPolicy, static (src, dst) => TensorPrimitives.ConvertToSingle(src, dst));

    /// <summary>
    /// bfloat16 logits (ORT's <see cref="Microsoft.ML.OnnxRuntime.BFloat16"/>, e.g. from a model run in bf16):
    /// converted to fp32 (exactly: a bfloat16 is the upper half of an fp32) block by block with a vectorised kernel, then
    /// counted as in the fp32 overload. Rows are numbered globally in error messages.
    /// </summary>
    /// <inheritdoc cref="AccumulateLogits(ReadOnlySpan{int}, ReadOnlySpan{float}, NanPolicy)"/>
    public void AccumulateLogits(ReadOnlySpan<int> labels, ReadOnlySpan<Microsoft.ML.OnnxRuntime.BFloat16> logits, NanPolicy nanPolicy = NanPolicy.Throw) =>
        AccumulateConverted(labels, MemoryMarshal.Cast<Microsoft.ML.OnnxRuntime.BFloat16, ushort>(logits), nanPolicy,
            static (src, dst) => BFloat16Kernel.ToSingle(src, dst, KernelDispatch.Best));

    private delegate void ToSingleConverter<T>(ReadOnlySpan<T> src, Span<float> dst);

    /// <summary>Rows converted to fp32 per block: small enough to stay in cache between conversion and counting.</summary>
    private const int ConvertRows = 4096;

    private void AccumulateConverted<T>(ReadOnlySpan<int> labels, ReadOnlySpan<T> logits, NanPolicy nanPolicy, ToSingleConverter<T> convert)
    {
        CheckLogitsShape(labels.Length, logits.Length, Classes);
        int n = labels.Length, C = Classes;
        int rowsPerBlock = Math.Max(1, Math.Min(n, ConvertRows * 16 / C));
        // Several blocks count into a scratch matrix first, so that an error in a later block leaves this one unchanged
        // (as the fp32 overload does).
        var target = n > rowsPerBlock ? new ConfusionMatrix(C) : this;
        var buffer = ArrayPool<float>.Shared.Rent(rowsPerBlock * C);
        try
        {
            for (int start = 0; start < n; start += rowsPerBlock)
            {
                int len = Math.Min(rowsPerBlock, n - start);
                var f = buffer.AsSpan(0, len * C);
                convert(logits.Slice(start * C, len * C), f);
                target.AccumulateLogitsCore(labels.Slice(start, len), f, nanPolicy, KernelDispatch.Best, start);
            }
        }
        finally { ArrayPool<float>.Shared.Return(buffer); }
        if (target != this) Add(target);
    }

    /// <summary>Adds the counts of <paramref name="other"/> (same class count) into this matrix.</summary>
    /// <exception cref="ArgumentException">The class counts differ.</exception>
    public void Add(ConfusionMatrix other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Classes != Classes) throw new ArgumentException($"cannot merge a {other.Classes}-class matrix into a {Classes}-class matrix", nameof(other));
        TensorPrimitives.Add<long>(_counts, other._counts, _counts);
        TensorPrimitives.Add<long>(_invalid, other._invalid, _invalid);
    }

    /// <summary>Sets every count to zero.</summary>
    public void Clear()
    {
        Array.Clear(_counts);
        Array.Clear(_invalid);
    }

    /// <summary>An independent copy.</summary>
    public ConfusionMatrix Clone()
    {
        var m = new ConfusionMatrix(Classes);
        _counts.CopyTo(m._counts, 0);
        _invalid.CopyTo(m._invalid, 0);
        return m;
    }

    /// <summary>
    /// A matrix holding the given counts (row-major <c>[true, predicted]</c>, <c>C * C</c> of them) and, optionally, per-class
    /// NaN-row counts (<see cref="InvalidCounts"/>, <c>C</c> of them): the inverse of <see cref="Counts"/>, e.g. to rebuild a
    /// matrix that was saved, then <see cref="Add"/> matrices of several shards.
    /// </summary>
    /// <exception cref="ArgumentException">Lengths that do not fit <paramref name="classes"/>, or a negative count.</exception>
    public static ConfusionMatrix FromCounts(int classes, ReadOnlySpan<long> counts, ReadOnlySpan<long> invalidCounts = default)
    {
        var m = new ConfusionMatrix(classes);
        if (counts.Length != m._counts.Length) throw new ArgumentException($"{classes} classes need {m._counts.Length} counts, got {counts.Length}", nameof(counts));
        if (invalidCounts.Length is not 0 && invalidCounts.Length != classes) throw new ArgumentException($"{classes} classes need {classes} invalid counts, got {invalidCounts.Length}", nameof(invalidCounts));
        for (int i = 0; i < counts.Length; i++)
            if (counts[i] < 0) throw new ArgumentException($"count [{i / classes}, {i % classes}] is negative ({counts[i]})", nameof(counts));
        for (int i = 0; i < invalidCounts.Length; i++)
            if (invalidCounts[i] < 0) throw new ArgumentException($"invalid count of class {i} is negative ({invalidCounts[i]})", nameof(invalidCounts));
        counts.CopyTo(m._counts);
        invalidCounts.CopyTo(m._invalid);
        return m;
    }

    /// <summary>The counts as a <c>[C, C]</c> array (row = true label).</summary>
    public long[,] ToArray()
    {
        var a = new long[Classes, Classes];
        _counts.AsSpan().CopyTo(MemoryMarshal.CreateSpan(ref a[0, 0], _counts.Length));
        return a;
    }

    /// <summary>
    /// Builds a matrix from labels and predictions using up to <paramref name="degreeOfParallelism"/> threads
    /// (0 = <see cref="Environment.ProcessorCount"/>): N is split into contiguous ranges, each thread fills a partial
    /// matrix, partials are merged in order. Errors are those of <see cref="Accumulate(ReadOnlySpan{int}, ReadOnlySpan{int})"/>
    /// with global sample indices; the lowest failing index wins.
    /// </summary>
    public static ConfusionMatrix ComputeParallel(ReadOnlyMemory<int> labels, ReadOnlyMemory<int> predictions, int classes, int degreeOfParallelism = 0)
    {
        if (labels.Length != predictions.Length) throw LengthMismatch(labels.Length, "predictions", predictions.Length);
        return RunParallel(classes, labels.Length, degreeOfParallelism,
            (m, start, len) => m.AccumulateCore(labels.Span.Slice(start, len), predictions.Span.Slice(start, len), KernelDispatch.Best, start));
    }

    /// <summary>
    /// Builds a matrix from labels and row-major logits <c>[N x C]</c> using several threads; see
    /// <see cref="ComputeParallel(ReadOnlyMemory{int}, ReadOnlyMemory{int}, int, int)"/> and
    /// <see cref="AccumulateLogits(ReadOnlySpan{int}, ReadOnlySpan{float}, NanPolicy)"/>.
    /// </summary>
    public static ConfusionMatrix ComputeParallelFromLogits(ReadOnlyMemory<int> labels, ReadOnlyMemory<float> logits, int classes,
        NanPolicy nanPolicy = NanPolicy.Throw, int degreeOfParallelism = 0)
    {
        CheckLogitsShape(labels.Length, logits.Length, classes);
        return RunParallel(classes, labels.Length, degreeOfParallelism,
            (m, start, len) => m.AccumulateLogitsCore(labels.Span.Slice(start, len),
                logits.Span.Slice(start * classes, len * classes), nanPolicy, KernelDispatch.Best, start));
    }

    private static ConfusionMatrix RunParallel(int classes, int n, int degree, Action<ConfusionMatrix, int, int> work)
    {
        var result = new ConfusionMatrix(classes);
        if (degree < 0) throw new ArgumentOutOfRangeException(nameof(degree), degree, "must be >= 0");
        int parts = degree == 0 ? Environment.ProcessorCount : degree;
        parts = Math.Max(1, Math.Min(parts, n / 4096)); // small inputs are not worth a thread
        if (parts == 1)
        {
            work(result, 0, n);
            return result;
        }
        var partials = new ConfusionMatrix[parts];
        var errors = new ExceptionDispatchInfo?[parts];
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, p =>
        {
            int start = (int)((long)n * p / parts), end = (int)((long)n * (p + 1) / parts);
            var m = new ConfusionMatrix(classes);
            try { work(m, start, end - start); }
            catch (Exception e) { errors[p] = ExceptionDispatchInfo.Capture(e); }
            partials[p] = m;
        });
        foreach (var e in errors) e?.Throw(); // ranges are in order, so the first failing range has the lowest index
        foreach (var m in partials) result.Add(m);
        return result;
    }

    internal void AccumulateCore<T>(ReadOnlySpan<T> labels, ReadOnlySpan<T> predictions, KernelPath path, long baseIndex)
        where T : unmanaged, System.Numerics.IBinaryInteger<T>
    {
        if (labels.Length != predictions.Length) throw LengthMismatch(labels.Length, "predictions", predictions.Length);
        int n = labels.Length, cells2 = _counts.Length;
        bool sub = Classes <= HistogramKernel.SubHistogramMaxClasses;
        int[]? subArr = sub ? ArrayPool<int>.Shared.Rent(HistogramKernel.SubHistograms * cells2) : null;
        Span<int> subHist = sub ? subArr.AsSpan(0, HistogramKernel.SubHistograms * cells2) : default;
        subHist.Clear();
        Span<int> cells = stackalloc int[Chunk];
        try
        {
            for (int start = 0; start < n; start += Chunk)
            {
                int len = Math.Min(Chunk, n - start);
                var c = cells[..len];
                int bad = Cells(labels.Slice(start, len), predictions.Slice(start, len), c, path);
                if (bad >= 0)
                {
                    if (!sub) Uncount(labels[..start], predictions[..start]);
                    int i = start + bad;
                    throw BadValue(labels[i], predictions[i], baseIndex + i, "predictions");
                }
                if (sub) HistogramKernel.CountSub(c, subHist, cells2);
                else HistogramKernel.CountDirect(c, _counts, 1);
            }
            if (sub) HistogramKernel.Flush(subHist, _counts);
        }
        finally
        {
            if (subArr is not null) ArrayPool<int>.Shared.Return(subArr);
        }
    }

    private int Cells<T>(ReadOnlySpan<T> labels, ReadOnlySpan<T> predictions, Span<int> cells, KernelPath path)
        where T : unmanaged
    {
        if (typeof(T) == typeof(int))
            return HistogramKernel.Cells(MemoryMarshal.Cast<T, int>(labels), MemoryMarshal.Cast<T, int>(predictions), Classes, cells, path);
        return HistogramKernel.Cells(MemoryMarshal.Cast<T, long>(labels), MemoryMarshal.Cast<T, long>(predictions), Classes, cells, path);
    }

    // Undo counts of an already validated prefix (direct-count path), so a failing call leaves the matrix unchanged.
    private void Uncount<T>(ReadOnlySpan<T> labels, ReadOnlySpan<T> predictions) where T : unmanaged
    {
        Span<int> cells = stackalloc int[Chunk];
        for (int start = 0; start < labels.Length; start += Chunk)
        {
            int len = Math.Min(Chunk, labels.Length - start);
            Cells(labels.Slice(start, len), predictions.Slice(start, len), cells[..len], KernelPath.Scalar);
            HistogramKernel.CountDirect(cells[..len], _counts, -1);
        }
    }

    internal void AccumulateLogitsCore(ReadOnlySpan<int> labels, ReadOnlySpan<float> logits, NanPolicy nanPolicy, KernelPath path, long baseIndex)
    {
        if (nanPolicy is not (NanPolicy.Throw or NanPolicy.CountAsWrong))
            throw new ArgumentOutOfRangeException(nameof(nanPolicy), nanPolicy, "unknown NaN policy");
        CheckLogitsShape(labels.Length, logits.Length, Classes);
        int n = labels.Length, C = Classes, cells2 = _counts.Length;
        bool sub = C <= HistogramKernel.SubHistogramMaxClasses;
        int[]? subArr = sub ? ArrayPool<int>.Shared.Rent(HistogramKernel.SubHistograms * cells2) : null;
        Span<int> subHist = sub ? subArr.AsSpan(0, HistogramKernel.SubHistograms * cells2) : default;
        subHist.Clear();
        long[]? invalid = null;
        Span<int> preds = stackalloc int[Chunk];
        Span<int> cells = stackalloc int[Chunk];
        try
        {
            for (int start = 0; start < n; start += Chunk)
            {
                int len = Math.Min(Chunk, n - start);
                var p = preds[..len];
                var lab = labels.Slice(start, len);
                bool anyNan = ArgMaxKernel.Run(logits.Slice(start * C, len * C), C, p, path);
                if (!anyNan)
                {
                    int bad = HistogramKernel.Cells(lab, p, C, cells[..len], path);
                    if (bad >= 0) throw FailLogits(labels, logits, sub, baseIndex, start, start + bad, -1);
                    if (sub) HistogramKernel.CountSub(cells[..len], subHist, cells2);
                    else HistogramKernel.CountDirect(cells[..len], _counts, 1);
                    continue;
                }
                // Rare path: the chunk holds at least one NaN row.
                for (int i = 0; i < len; i++)
                {
                    int y = lab[i];
                    if ((uint)y >= (uint)C) throw FailLogits(labels, logits, sub, baseIndex, start + i, start + i, -1);
                    if (p[i] < 0)
                    {
                        if (nanPolicy == NanPolicy.Throw) throw FailLogits(labels, logits, sub, baseIndex, start + i, start + i, start + i);
                        (invalid ??= new long[C])[y]++;
                    }
                    else if (sub) subHist[y * C + p[i]]++;
                    else _counts[(long)y * C + p[i]]++;
                }
            }
            if (sub) HistogramKernel.Flush(subHist, _counts);
            if (invalid is not null) TensorPrimitives.Add<long>(_invalid, invalid, _invalid);
        }
        finally
        {
            if (subArr is not null) ArrayPool<int>.Shared.Return(subArr);
        }
    }

    private ArgumentException FailLogits(ReadOnlySpan<int> labels, ReadOnlySpan<float> logits, bool sub, long baseIndex,
        int countedUpTo, int index, int nanRow)
    {
        int C = Classes;
        // rows before countedUpTo were counted straight into _counts on the direct path: undo them
        if (!sub) UncountLogits(labels[..countedUpTo], logits[..(countedUpTo * C)]);
        if (nanRow >= 0)
            return new ArgumentException($"logits row {baseIndex + nanRow} contains NaN (NanPolicy.Throw)", nameof(logits));
        return new ArgumentOutOfRangeException(nameof(labels), labels[index],
            $"labels[{baseIndex + index}] = {labels[index]} is outside [0, {C})");
    }

    private void UncountLogits(ReadOnlySpan<int> labels, ReadOnlySpan<float> logits)
    {
        Span<int> preds = stackalloc int[Chunk];
        int C = Classes;
        for (int start = 0; start < labels.Length; start += Chunk)
        {
            int len = Math.Min(Chunk, labels.Length - start);
            ArgMaxKernel.Run(logits.Slice(start * C, len * C), C, preds[..len], KernelPath.Scalar);
            for (int i = 0; i < len; i++)
                if (preds[i] >= 0) _counts[(long)labels[start + i] * C + preds[i]]--;
        }
    }

    private static void CheckLogitsShape(int n, int logitsLength, int classes)
    {
        if (classes < 1 || classes > MaxClasses)
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"class count must be in [1, {MaxClasses}]");
        if (logitsLength % classes != 0)
            throw new ArgumentException($"logits length {logitsLength} is not a multiple of the class count {classes}", "logits");
        if (logitsLength / classes != n)
            throw new ArgumentException($"logits hold {logitsLength / classes} rows of {classes} but labels hold {n} samples", "logits");
    }

    private static ArgumentException LengthMismatch(int labels, string other, int otherLength) =>
        new($"labels has {labels} elements but {other} has {otherLength}", other);

    private ArgumentOutOfRangeException BadValue<T>(T label, T prediction, long index, string predName)
        where T : System.Numerics.IBinaryInteger<T>
    {
        var c = T.CreateTruncating(Classes);
        if (T.IsNegative(label) || label >= c)
            return new ArgumentOutOfRangeException("labels", label, $"labels[{index}] = {label} is outside [0, {Classes})");
        return new ArgumentOutOfRangeException(predName, prediction, $"{predName}[{index}] = {prediction} is outside [0, {Classes})");
    }
}
