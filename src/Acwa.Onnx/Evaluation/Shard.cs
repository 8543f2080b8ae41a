using System.Globalization;

namespace Acwa.Onnx.Evaluation;

/// <summary>
/// One share of an embarrassingly parallel job: shard <see cref="Index"/> of <see cref="Count"/>, as a cluster scheduler's
/// array index gives it (Slurm job arrays, Kubernetes Indexed Jobs). No coordinator: each task derives its share from
/// its index alone.
/// </summary>
/// <remarks>
/// <para>Evaluation: contiguous ranges. Of <c>S</c> samples, shard <c>I</c> of <c>N</c> takes samples
/// <c>[floor(I S / N), floor((I + 1) S / N))</c> (<see cref="Range"/>); the ranges of shards 0..N-1 cover 0..S-1 once, in order.</para>
/// <para>Grids of runs: a sorted manifest, run <c>r</c> to shard <c>r mod N</c> (<see cref="Owns"/>).</para>
/// </remarks>
public readonly record struct Shard
{
    /// <summary>The environment variables read by <see cref="Resolve"/>.</summary>
    public const string SlurmTaskId = "SLURM_ARRAY_TASK_ID", SlurmTaskMin = "SLURM_ARRAY_TASK_MIN", SlurmTaskCount = "SLURM_ARRAY_TASK_COUNT",
        KubernetesIndex = "JOB_COMPLETION_INDEX";

    /// <summary>Creates shard <paramref name="index"/> of <paramref name="count"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> below 1, or <paramref name="index"/> outside [0, count).</exception>
    public Shard(int index, int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, $"shard count must be 1 or more, got {count}");
        if (index < 0 || index >= count) throw new ArgumentOutOfRangeException(nameof(index), index, $"shard index must be in [0, {count}), got {index}");
        Index = index;
        Count = count;
    }

    /// <summary>Zero-based shard index I, in [0, <see cref="Count"/>).</summary>
    public int Index { get; }

    /// <summary>Number of shards N.</summary>
    public int Count { get; }

    /// <summary>The whole job as one shard (0/1).</summary>
    public static Shard Whole => new(0, 1);

    /// <summary>Parses <c>I/N</c> (e.g. <c>2/4</c>: the third of four shards).</summary>
    /// <exception cref="FormatException">Not of that form, or I outside [0, N).</exception>
    public static Shard Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split('/', StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            throw new FormatException($"--shard '{text}': expected I/N with 0 <= I < N, e.g. 0/4");
        if (n < 1 || i >= n) throw new FormatException($"--shard '{text}': expected I/N with 0 <= I < N, e.g. 0/4");
        return new Shard(i, n);
    }

    /// <summary>
    /// The shard of this task: <paramref name="explicitShard"/> (<c>--shard I/N</c>) when given; else from the scheduler's
    /// environment: Slurm's <c>SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN</c> of <c>SLURM_ARRAY_TASK_COUNT</c> (a contiguous
    /// array, step 1), or Kubernetes' <c>JOB_COMPLETION_INDEX</c> of <paramref name="shards"/> (<c>--shards N</c>: Kubernetes
    /// gives no count). Null when neither is set (the whole job). <paramref name="source"/> says where it came from.
    /// </summary>
    /// <param name="explicitShard"><c>--shard I/N</c>, or null.</param>
    /// <param name="shards"><c>--shards N</c>, or null; with Slurm it must equal the array's count.</param>
    /// <param name="environment">Reads a variable (default <see cref="Environment.GetEnvironmentVariable(string)"/>).</param>
    /// <param name="source">How the shard was found, for the log line.</param>
    /// <exception cref="ArgumentException">Inconsistent or malformed values; the message names the variable or option.</exception>
    public static Shard? Resolve(string? explicitShard, int? shards, Func<string, string?>? environment, out string source)
    {
        environment ??= Environment.GetEnvironmentVariable;
        if (shards is < 1) throw new ArgumentException($"--shards must be 1 or more, got {shards}");
        if (explicitShard is not null)
        {
            Shard s;
            try { s = Parse(explicitShard); }
            catch (FormatException e) { throw new ArgumentException(e.Message, e); }
            if (shards is not null && shards != s.Count) throw new ArgumentException($"--shards {shards} disagrees with --shard {explicitShard}");
            source = "--shard";
            return s;
        }
        int? Int(string name, bool required)
        {
            var v = environment(name);
            if (string.IsNullOrWhiteSpace(v))
                return required ? throw new ArgumentException($"{name} is not set; it is needed with the other Slurm array variables (or pass --shard I/N)") : null;
            return int.TryParse(v.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int x) && x >= 0 ? x
                : throw new ArgumentException($"{name} = '{v}' is not a non-negative integer");
        }
        if (Int(SlurmTaskId, false) is { } id)
        {
            int min = Int(SlurmTaskMin, false) ?? 0, count = Int(SlurmTaskCount, true)!.Value;
            int index = id - min;
            if (count < 1 || index < 0 || index >= count)
                throw new ArgumentException($"{SlurmTaskId} {id} - {SlurmTaskMin} {min} = {index} is outside [0, {SlurmTaskCount} {count}): use a contiguous array with step 1, e.g. --array=0-{Math.Max(count, 1) - 1}");
            if (shards is not null && shards != count) throw new ArgumentException($"--shards {shards} disagrees with {SlurmTaskCount} {count}");
            source = $"{SlurmTaskId} {id} - {SlurmTaskMin} {min}, {SlurmTaskCount} {count}";
            return new Shard(index, count);
        }
        if (Int(KubernetesIndex, false) is { } k)
        {
            if (shards is null) throw new ArgumentException($"{KubernetesIndex} is set ({k}) but Kubernetes gives no shard count: pass --shards N (the Job's completions)");
            if (k >= shards) throw new ArgumentException($"{KubernetesIndex} {k} is outside [0, --shards {shards})");
            source = $"{KubernetesIndex} {k}, --shards {shards}";
            return new Shard(k, shards.Value);
        }
        if (shards is not null) throw new ArgumentException($"--shards {shards} needs {KubernetesIndex} (a Kubernetes Indexed Job) or the Slurm array variables; or pass --shard I/N");
        source = "none";
        return null;
    }

    /// <summary>This shard's contiguous range of <paramref name="total"/> samples: <c>[floor(I total / N), floor((I + 1) total / N))</c>.</summary>
    public (long Start, long End) Range(long total)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(total);
        int n = Count == 0 ? 1 : Count;
        return ((long)(Int128.CreateChecked(total) * Index / n), (long)(Int128.CreateChecked(total) * (Index + 1) / n));
    }

    /// <summary>Whether run <paramref name="runIndex"/> of a sorted manifest belongs to this shard (<c>r mod N == I</c>).</summary>
    public bool Owns(int runIndex) => runIndex >= 0 && runIndex % (Count == 0 ? 1 : Count) == Index;

    /// <summary><c>I/N</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}
