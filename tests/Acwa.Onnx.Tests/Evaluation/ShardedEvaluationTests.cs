using System.Text.Json.Nodes;
using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.IO;
using Acwa.Onnx.Metrics;
using Acwa.Onnx.Tests.Cli;

namespace Acwa.Onnx.Tests.Evaluation;

/// <summary>
/// Sharded evaluation (<see cref="Shard"/>, <see cref="EvaluationPart"/>, <c>acwa eval --shard</c>, <c>acwa metrics merge</c>):
/// the merged parts equal the unsharded evaluation exactly, and every merge that does not make one evaluation is refused
/// with a message naming the part.
/// </summary>
public sealed class ShardedEvaluationTests : IDisposable
{
    private readonly string _dir = EvalModels.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    private string F(string name) => Path.Combine(_dir, name);

    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void ThreeShardsOfFashionMnistMergeToExactlyTheUnshardedReport()
    {
        var model = EvalModels.Linear(1, 28, 28, 10, seed: 7);
        OnnxModel.Save(model, F("m.onnx"));
        var (code, _, err) = CliRun.Invoke("eval", "--model", F("m.onnx"), "--dataset", "fashion-mnist", "--json", F("whole.json"), "--threads", "1");
        Assert.True(code == 0, err);
        var parts = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            (code, var stdout, err) = CliRun.Invoke("eval", "--model", F("m.onnx"), "--dataset", "fashion-mnist", "--shard", $"{i}/3", "--json", F($"part{i}.json"), "--threads", "1");
            Assert.True(code == 0, err);
            Assert.Contains($"shard {i}/3 (--shard): samples [", stdout, StringComparison.Ordinal);
            parts.Add(F($"part{i}.json"));
        }
        // The parts cover the test set once, in contiguous ranges, and hold raw int64 counts with what identifies the work.
        var p = parts.Select(EvaluationPart.Read).ToList();
        long n = p[0].Dataset.Samples;
        Assert.True(n is 10000 or 2000, $"test set of {n}");
        Assert.Equal([0, n / 3, 2 * n / 3], p.Select(x => x.Start));
        Assert.Equal([n / 3, 2 * n / 3, n], p.Select(x => x.End));
        Assert.All(p, x => Assert.Equal(EvaluationPart.Sha256OfFile(F("m.onnx")), x.ModelSha256));
        Assert.All(p, x => Assert.Equal("test", x.Split));
        Assert.All(p, x => Assert.Equal(x.End - x.Start, x.Matrix.Total));

        // Merged in reverse order: the same report, byte for byte, as the unsharded run; and the same counts.
        (code, var mergeOut, err) = CliRun.Invoke(["metrics", "merge", .. parts.AsEnumerable().Reverse(), "--json", F("merged.json")]);
        Assert.True(code == 0, err);
        Assert.Equal(File.ReadAllText(F("whole.json")), File.ReadAllText(F("merged.json")));
        Assert.Contains("merged 3 parts", mergeOut, StringComparison.Ordinal);
        var merged = EvaluationPart.Merge(p);
        var whole = JsonNode.Parse(File.ReadAllText(F("whole.json")))!;
        Assert.Equal(n, whole["total"]?.GetValue<long>() ?? merged.Matrix.Total);
        Assert.Equal(n, merged.Matrix.Total);
    }

    [Fact]
    public void ShardedNpyEvaluationReadsOnlyItsRowsAndMergesExactly()
    {
        var model = EvalModels.Linear(1, 6, 6, 4, seed: 3);
        OnnxModel.Save(model, F("m.onnx"));
        var data = EvalModels.Data(103, 1, 6, 6, 4, seed: 9);
        NpyFile.Write<byte>(F("x.npy"), data.Pixels, [103, 6, 6]);
        NpyFile.Write<long>(F("y.npy"), data.Labels.ToArray().Select(v => (long)v).ToArray());
        var spec = $"npy:{F("x.npy")},{F("y.npy")}";
        var (code, _, err) = CliRun.Invoke("eval", "--model", F("m.onnx"), "--dataset", spec, "--batch", "8", "--json", F("whole.json"));
        Assert.True(code == 0, err);
        var parts = new List<string>();
        for (int i = 0; i < 4; i++)
        {
            // Kubernetes: JOB_COMPLETION_INDEX with --shards (the library call; the CLI reads the same variables from the process).
            var o = new Acwa.Cli.Commands.EvalOptions(F("m.onnx"), spec, Batch: 8, JsonOut: F($"p{i}.json"), Shards: 4,
                Environment: Env(("JOB_COMPLETION_INDEX", i.ToString(System.Globalization.CultureInfo.InvariantCulture))));
            Assert.Equal(0, Acwa.Cli.Commands.EvalCommand.Run(o, new StringWriter(), new StringWriter()));
            parts.Add(F($"p{i}.json"));
        }
        (code, _, err) = CliRun.Invoke(["metrics", "merge", .. parts, "--json", F("merged.json")]);
        Assert.True(code == 0, err);
        Assert.Equal(File.ReadAllText(F("whole.json")), File.ReadAllText(F("merged.json")));
        var expected = EvalModels.Direct(model, data, new Acwa.Onnx.Data.Normalization([0f], [1f]), 4);
        Assert.Equal(expected.Counts.ToArray(), EvaluationPart.Merge(parts.Select(EvaluationPart.Read).ToArray()).Matrix.Counts.ToArray());
    }

    [Fact]
    public void NpyWithFourFilesEvaluatesTheSplitItNames()
    {
        // Issue 24: the four-file form that `acwa train` accepts; --split test (default) evaluates XTEST,YTEST, train X,Y.
        var model = EvalModels.Linear(1, 6, 6, 4, seed: 3);
        OnnxModel.Save(model, F("m.onnx"));
        var train = EvalModels.Data(40, 1, 6, 6, 4, seed: 1);
        var test = EvalModels.Data(25, 1, 6, 6, 4, seed: 2);
        NpyFile.Write<byte>(F("x.npy"), train.Pixels, [40, 6, 6]);
        NpyFile.Write<long>(F("y.npy"), train.Labels.ToArray().Select(v => (long)v).ToArray());
        NpyFile.Write<byte>(F("xt.npy"), test.Pixels, [25, 6, 6]);
        NpyFile.Write<long>(F("yt.npy"), test.Labels.ToArray().Select(v => (long)v).ToArray());
        var spec = $"npy:{F("x.npy")},{F("y.npy")},{F("xt.npy")},{F("yt.npy")}";
        var norm = new Acwa.Onnx.Data.Normalization([0f], [1f]);
        foreach (var (split, data) in new[] { ("test", test), ("train", train) })
        {
            var (code, stdout, err) = CliRun.Invoke("eval", "--model", F("m.onnx"), "--dataset", spec, "--split", split, "--json", F($"{split}.json"));
            Assert.True(code == 0, err);
            Assert.Contains($"{data.Count} images", stdout, StringComparison.Ordinal);
            Assert.Equal(JsonNode.Parse(ClassificationReport.Create(EvalModels.Direct(model, data, norm, 4)).ToJson())!.ToJsonString(),
                JsonNode.Parse(File.ReadAllText(F($"{split}.json")))!.ToJsonString());
        }
    }

    [Fact]
    public void EvalHelpNamesTokenIdsAndSaysSamples()
    {
        var (code, stdout, _) = CliRun.Invoke("eval", "--help");
        Assert.Equal(0, code);
        Assert.Contains("token ids", stdout, StringComparison.Ordinal);
        Assert.Contains("Samples per forward pass", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Images per", stdout, StringComparison.Ordinal);
        Assert.Contains("--shard", stdout, StringComparison.Ordinal);
        Assert.Contains("XTEST.npy,YTEST.npy", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void ShardComesFromTheOptionOrTheSchedulersVariables()
    {
        Assert.Equal(new Shard(2, 4), Shard.Resolve("2/4", null, Env(), out _));
        Assert.Null(Shard.Resolve(null, null, Env(), out _));
        // Slurm: task id minus the array's first id, of the array's count.
        Assert.Equal(new Shard(1, 3), Shard.Resolve(null, null, Env(("SLURM_ARRAY_TASK_ID", "6"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_COUNT", "3")), out var from));
        Assert.Contains("SLURM_ARRAY_TASK_ID 6", from, StringComparison.Ordinal);
        // Kubernetes: the completion index, with --shards (no count in the environment).
        Assert.Equal(new Shard(3, 5), Shard.Resolve(null, 5, Env(("JOB_COMPLETION_INDEX", "3")), out _));
        Assert.Contains("--shards", Assert.Throws<ArgumentException>(() => Shard.Resolve(null, null, Env(("JOB_COMPLETION_INDEX", "3")), out _)).Message, StringComparison.Ordinal);
        Assert.Contains("JOB_COMPLETION_INDEX 5", Assert.Throws<ArgumentException>(() => Shard.Resolve(null, 5, Env(("JOB_COMPLETION_INDEX", "5")), out _)).Message, StringComparison.Ordinal);
        Assert.Contains("SLURM_ARRAY_TASK_COUNT", Assert.Throws<ArgumentException>(() => Shard.Resolve(null, null, Env(("SLURM_ARRAY_TASK_ID", "0")), out _)).Message, StringComparison.Ordinal);
        Assert.Contains("contiguous", Assert.Throws<ArgumentException>(() => Shard.Resolve(null, null, Env(("SLURM_ARRAY_TASK_ID", "8"), ("SLURM_ARRAY_TASK_COUNT", "4")), out _)).Message, StringComparison.Ordinal);
        Assert.Contains("--shard '4/4'", Assert.Throws<ArgumentException>(() => Shard.Resolve("4/4", null, Env(), out _)).Message, StringComparison.Ordinal);
        // The option wins over the environment.
        Assert.Equal(new Shard(0, 2), Shard.Resolve("0/2", null, Env(("JOB_COMPLETION_INDEX", "1")), out _));

        // Contiguous ranges that cover every sample once, in order; the manifest rule r mod N.
        foreach (long total in new long[] { 0, 1, 7, 10000, 3_000_000_001 })
            for (int n = 1; n <= 5; n++)
            {
                long next = 0;
                for (int i = 0; i < n; i++)
                {
                    var (s, e) = new Shard(i, n).Range(total);
                    Assert.Equal(next, s);
                    Assert.True(e - s >= total / n && e - s <= total / n + 1);
                    next = e;
                }
                Assert.Equal(total, next);
            }
        Assert.Equal([1, 4, 7], Enumerable.Range(0, 9).Where(new Shard(1, 3).Owns));
    }

    /// <summary>Two parts of one 3-shard evaluation of 30 samples and a third, made by the library, with the given changes.</summary>
    private List<string> WriteParts(Func<int, EvaluationPart, EvaluationPart>? change = null, int shards = 3, string prefix = "part")
    {
        var files = new List<string>();
        var fp = new DatasetFingerprint("npy:x.npy,y.npy", [new DatasetFile("x.npy", 1000), new DatasetFile("y.npy", 300)], 30, [10, 10, 10]);
        for (int i = 0; i < shards; i++)
        {
            var shard = new Shard(i, shards);
            var (s, e) = shard.Range(30);
            var m = new ConfusionMatrix(3);
            var labels = Enumerable.Range((int)s, (int)(e - s)).Select(k => k % 3).ToArray();
            m.Accumulate(labels, labels.Select(l => (l + (l == 2 ? 1 : 0)) % 3).ToArray());
            var part = new EvaluationPart("m.onnx", new string('a', 64), fp, "test", ["a", "b", "c"], shard, s, e, m, 0.5);
            part = change?.Invoke(i, part) ?? part;
            var f = F($"{prefix}{i}.json");
            part.Write(f);
            files.Add(f);
        }
        return files;
    }

    private static EvaluationPart With(EvaluationPart p, string? sha = null, DatasetFingerprint? dataset = null, string? split = null,
        string[]? classes = null, long? start = null, long? end = null, Shard? shard = null) =>
        new(p.ModelFile, sha ?? p.ModelSha256, dataset ?? p.Dataset, split ?? p.Split, classes ?? p.ClassNames.ToArray(), shard ?? p.Shard,
            start ?? p.Start, end ?? p.End, p.Matrix, p.Seconds);

    private static string MergeError(IEnumerable<string> parts)
    {
        var (code, _, err) = CliRun.Invoke(["metrics", "merge", .. parts, "--json", Path.Combine(Path.GetTempPath(), $"never-{Guid.NewGuid():N}.json")]);
        Assert.Equal(2, code);
        Assert.StartsWith("error: ", err, StringComparison.Ordinal);
        return err;
    }

    [Fact]
    public void MergeRefusesPartsThatAreNotOneEvaluationNamingThePart()
    {
        var ok = WriteParts();
        var (code, _, err) = CliRun.Invoke(["metrics", "merge", .. ok]);
        Assert.True(code == 0, err);

        // Missing shard: named with its sample range.
        var e = MergeError([ok[0], ok[2]]);
        Assert.Contains("missing shard 1/3 (samples [10, 20))", e, StringComparison.Ordinal);
        // Duplicate: the same part twice, or a copy under another name.
        File.Copy(ok[1], F("copy.json"));
        e = MergeError([ok[0], ok[1], F("copy.json"), ok[2]]);
        Assert.Contains($"{ok[1]} and {F("copy.json")} are both shard 1/3", e, StringComparison.Ordinal);

        // Different model (file hash).
        var parts = WriteParts((i, p) => i == 2 ? With(p, sha: new string('b', 64)) : p);
        e = MergeError(parts);
        Assert.Contains($"{parts[2]}: model sha256 {new string('b', 64)}", e, StringComparison.Ordinal);
        Assert.Contains("a different model", e, StringComparison.Ordinal);
        // Different dataset: another file size, another sample count, other labels.
        parts = WriteParts((i, p) => i == 1 ? With(p, dataset: p.Dataset with { Files = [new DatasetFile("x.npy", 1001), new DatasetFile("y.npy", 300)] }) : p);
        e = MergeError(parts);
        Assert.Contains($"{parts[1]}: dataset files [x.npy (1001 bytes)", e, StringComparison.Ordinal);
        parts = WriteParts((i, p) => i == 1 ? With(p, dataset: p.Dataset with { LabelCounts = [11, 9, 10] }) : p);
        Assert.Contains($"{parts[1]}: dataset label counts [11, 9, 10]", MergeError(parts), StringComparison.Ordinal);
        // Different split, different class list.
        parts = WriteParts((i, p) => i == 2 ? With(p, split: "train") : p);
        Assert.Contains($"{parts[2]}: split 'train' vs 'test'", MergeError(parts), StringComparison.Ordinal);
        parts = WriteParts((i, p) => i == 1 ? With(p, classes: ["a", "B", "c"]) : p);
        e = MergeError(parts);
        Assert.Contains($"{parts[1]}: class names [a, B, c] vs [a, b, c]", e, StringComparison.Ordinal);
        // Different shard counts.
        var four = WriteParts(shards: 4, prefix: "four");
        Assert.Contains($"{four[1]}: shard count 4 vs 3", MergeError([ok[0], four[1]]), StringComparison.Ordinal);

        // Overlapping ranges (shard 1 claims samples from shard 0's range).
        parts = WriteParts((i, p) => i == 1 ? With(p, start: 8) : p);
        e = MergeError(parts);
        Assert.Contains($"{parts[1]} (samples [8, 20)) overlaps {parts[0]} (samples [0, 10))", e, StringComparison.Ordinal);
        // A range that is not its shard's.
        parts = WriteParts((i, p) => i == 1 ? With(p, end: 19) : p);
        Assert.Contains($"{parts[1]}: shard 1/3 covers samples [10, 19), but shard 1/3 of 30 samples is [10, 20)", MergeError(parts), StringComparison.Ordinal);

        // Counts that do not add up to the range, and files that are not parts.
        var text = File.ReadAllText(ok[0]);
        var node = JsonNode.Parse(text)!;
        node["confusion_matrix"]![0]![0] = node["confusion_matrix"]![0]![0]!.GetValue<long>() + 1;
        File.WriteAllText(F("bad.json"), node.ToJsonString());
        Assert.Contains($"{F("bad.json")}: its counts sum to 11 but its range [0, 10) holds 10 samples", MergeError([F("bad.json"), ok[1], ok[2]]), StringComparison.Ordinal);
        File.WriteAllText(F("report.json"), "{\"macro\": {}}");
        Assert.Contains($"{F("report.json")}: field 'format' is missing", MergeError([F("report.json"), ok[1]]), StringComparison.Ordinal);
        Assert.Contains("missing.json", MergeError([ok[0], F("missing.json")]), StringComparison.Ordinal);
    }

    [Fact]
    public void PartsAreWrittenAtomicallyAndARetriedShardOverwritesItsOwnPart()
    {
        var ok = WriteParts();
        var before = File.ReadAllText(ok[1]);
        WriteParts();
        Assert.Equal(before, File.ReadAllText(ok[1]));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));
        var merged = EvaluationPart.Merge(ok.Select(EvaluationPart.Read).ToArray());
        Assert.Equal(30, merged.Matrix.Total);
        Assert.Equal(new Shard(0, 1), merged.Shard);
        // The library's merge equals adding the matrices (ConfusionMatrix.Add) of the parts.
        var sum = new ConfusionMatrix(3);
        foreach (var p in ok.Select(EvaluationPart.Read)) sum.Add(p.Matrix);
        Assert.Equal(sum.Counts.ToArray(), merged.Matrix.Counts.ToArray());
        Assert.Equal(sum.Counts.ToArray(), ConfusionMatrix.FromCounts(3, sum.Counts, sum.InvalidCounts).Counts.ToArray());
    }
}
