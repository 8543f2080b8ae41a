using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Acwa.Onnx.IO;
using Acwa.Onnx.Tests.Cli;
using Acwa.Onnx.Tests.Data;
using Xunit.Abstractions;

namespace Acwa.Onnx.Tests.Distributed;

/// <summary>
/// <c>mpirun -np N acwa train ... --distributed</c> against one process with the same global batch (docs/distributed.md):
/// final parameters and optimizer state within 1e-5 relative, every rank reporting the same validation confusion matrix and
/// class weights, resume bit-identical with the same N and refused with another, a SIGTERM to one rank stopping every rank
/// at the same step, and a killed rank ending the job.
/// </summary>
[Trait("Category", TestCategories.Slow)]
public partial class DistributedTrainingTests(ITestOutputHelper log)
{
    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    // Step imbalance (classes 5-9 keep 10%) and class-balanced weights: non-uniform class weights from the first step.
    private static string[] Args(string data, string outDir, string model, string optimizer, int epochs, params string[] more) =>
        ["train", "--dataset", data, "--model", model, "--imbalance", "step", "--policy", "cb", "--optimizer", optimizer,
         "--lr", optimizer == "sgd" ? "0.01" : "0.0003", "--epochs", epochs.ToString(CultureInfo.InvariantCulture), "--batch", "30", "--threads", "1",
         "--seed", "5", "--quiet", "--out", outDir, .. more];

    private static (int Code, string Out, string Err) OneProcess(string[] args)
    {
        var (code, o, e) = CliRun.Invoke(args);
        return (code, o, e);
    }

    /// <summary>
    /// The largest relative difference over the state tensors (parameters and optimizer state): ||a - b|| / ||a|| (L2) per
    /// tensor, and for information the element-wise max|a - b| / max|a|.
    /// </summary>
    private static (double Worst, string Where, double WorstElement) RelativeDifference(string expectedDir, string actualDir)
    {
        var (a, _) = TensorFile.Load(Path.Combine(expectedDir, "checkpoint.acwa"));
        var (b, _) = TensorFile.Load(Path.Combine(actualDir, "checkpoint.acwa"));
        var bn = b.ToDictionary(t => t.Name);
        double worst = 0, worstElement = 0; string where = "";
        int compared = 0;
        foreach (var t in a)
        {
            if (t.Name.StartsWith("control/", StringComparison.Ordinal) || t.Data is null) continue;
            var x = t.Data; var y = bn[t.Name].Data!;
            Assert.Equal(x.Length, y.Length);
            double scale = 0, diff = 0, norm = 0, dnorm = 0;
            for (int i = 0; i < x.Length; i++)
            {
                double d = (double)x[i] - y[i];
                scale = Math.Max(scale, Math.Abs(x[i])); diff = Math.Max(diff, Math.Abs(d));
                norm += (double)x[i] * x[i]; dnorm += d * d;
            }
            double rel = norm > 0 ? Math.Sqrt(dnorm / norm) : Math.Sqrt(dnorm);
            if (rel > worst) { worst = rel; where = t.Name; }
            worstElement = Math.Max(worstElement, scale > 0 ? diff / scale : diff);
            compared++;
        }
        Assert.True(compared > 2, "no state tensors compared");
        return (worst, where, worstElement);
    }

    [GeneratedRegex(@"^rank (\d+) of (\d+), epoch (\d+): (.*)$", RegexOptions.Multiline)]
    private static partial Regex RankLine();

    /// <summary>
    /// Every rank printed the same report (loss, macro-F1, confusion counts, next weights) for every epoch. The ranks' standard
    /// error comes from mpirun's <c>--output-filename</c> files (DIR/1/rank.R/stderr): merged through mpirun, long lines of
    /// several ranks can interleave.
    /// </summary>
    private static void AssertRanksAgree(string outputDir, int ranks, int epochs)
    {
        var err = string.Join("\n", Directory.GetFiles(outputDir, "stderr", SearchOption.AllDirectories).Select(File.ReadAllText));
        var lines = RankLine().Matches(err).Select(m => (Rank: int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), Epoch: int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture), Text: m.Groups[4].Value)).ToList();
        Assert.Equal(ranks * epochs, lines.Count);
        foreach (var g in lines.GroupBy(l => l.Epoch))
        {
            Assert.Equal(ranks, g.Select(l => l.Rank).Distinct().Count());
            Assert.Single(g.Select(l => l.Text).Distinct());
        }
    }

    /// <summary>
    /// Trains <paramref name="args"/>(OUT, extra options) once in this process into DIR/one and on <paramref name="ranks"/> MPI
    /// ranks with <c>--distributed</c> into DIR/many; both must succeed and every rank must print the same report for each of
    /// the <paramref name="epochs"/> epochs. Returns the mpirun result.
    /// </summary>
    private static MpiRun.Finished TrainOnceAndOnRanks(TempDir dir, int ranks, int epochs, Func<string, string[], string[]> args)
    {
        var one = OneProcess(args(dir.File("one"), []));
        Assert.True(one.Code == 0, one.Err + one.Out);
        var many = MpiRun.Run(ranks, "acwa.dll", args(dir.File("many"), ["--distributed"]), mpirunOptions: ["--output-filename", dir.File("ranks")]);
        Assert.True(many.Code == 0, $"exit {many.Code}\n{many.Out}\n{many.Err}");
        AssertRanksAgree(dir.File("ranks"), ranks, epochs);
        return many;
    }

    [Theory]
    [InlineData("mlp", "sgd", 2)]
    [InlineData("mlp", "sgd", 3)]
    [InlineData("mlp", "adam", 2)]
    [InlineData("mlp", "adam", 3)]
    [InlineData("cnn", "sgd", 2)]
    [InlineData("cnn", "adam", 3)]
    public void N_ranks_train_what_one_process_trains_with_the_same_global_batch(string model, string optimizer, int ranks)
    {
        using var dir = new TempDir();
        var data = LearnableIdxDataset.Write(dir, model == "cnn" ? 40 : 60, 10);
        int epochs = 3;
        var many = TrainOnceAndOnRanks(dir, ranks, epochs, (outDir, more) => Args(data, outDir, model, optimizer, epochs, more));
        var (worst, where, element) = RelativeDifference(dir.File("one"), dir.File("many"));
        var steps = TensorFile.LoadMeta(dir.File("many/checkpoint.acwa"))["extra"]!["trainer"]!["global_step"]!.GetValue<long>();
        log.WriteLine($"{model} {optimizer}, {ranks} ranks, {steps} steps: largest relative difference of the final state ||a-b||/||a|| {worst:E2} ({where}), element-wise max|a-b|/max|a| {element:E2}; {many.Seconds:F1} s");
        Assert.True(steps >= 20, $"only {steps} steps");
        Assert.True(worst <= 1e-5, $"relative difference {worst:E3} in {where}");
        // The same validation reports, so the same class weights chosen, as one process.
        Assert.Equal(File.ReadAllText(dir.File("one/weights.csv")), File.ReadAllText(dir.File("many/weights.csv")));
        // Rank 0 alone wrote the run folder: one set of files, no temporary leftovers.
        Assert.Empty(Directory.GetFiles(dir.File("many"), "*.tmp*", SearchOption.AllDirectories));
    }

    /// <summary>
    /// <c>--feedback training</c> on 2 ranks: each rank counts the training predictions of its slices, the counts are
    /// all-reduced, so every rank feeds ACWA the report one process feeds it (the same weights), and a SIGTERM mid-epoch
    /// leaves a checkpoint with every rank's partial counts, from which the resumed run ends bit-identical.
    /// </summary>
    [Fact]
    public void Training_feedback_on_2_ranks_chooses_the_weights_of_one_process_and_resumes_bit_identical_from_a_sigterm()
    {
        using var dir = new TempDir();
        var data = LearnableIdxDataset.Write(dir, 60, 10);
        string[] Feedback(string outDir, params string[] more) =>
            ["train", "--dataset", data, "--model", "mlp", "--imbalance", "step", "--policy", "acwa", "--feedback", "training", "--optimizer", "sgd",
             "--lr", "0.01", "--epochs", "3", "--batch", "30", "--threads", "1", "--seed", "5", "--quiet", "--out", outDir, .. more];
        TrainOnceAndOnRanks(dir, 2, 3, Feedback);
        var weights = File.ReadAllText(dir.File("one/weights.csv"));
        Assert.Equal(weights, File.ReadAllText(dir.File("many/weights.csv")));
        Assert.True(weights.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(2).Any(l => l.Split(',').Skip(1).Distinct().Count() > 1), weights); // ACWA moved them

        int pid1 = 0; bool sent = false;
        var stopped = MpiRun.Run(2, "acwa.dll", Feedback(dir.File("resumed"), "--distributed", "--checkpoint-every", "4"), onErrLine: (line, _) =>
        {
            if (Regex.Match(line, @"^distributed: rank 1 of 2, pid (\d+)") is { Success: true } m) pid1 = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            if (!sent && line.StartsWith("rank 1 of 2, epoch 1:", StringComparison.Ordinal) && pid1 > 0) { sent = true; kill(pid1, 15); }
        });
        Assert.True(sent, stopped.Err);
        Assert.True(stopped.Code != 0, stopped.Err);
        var position = TensorFile.LoadMeta(dir.File("resumed/checkpoint.acwa"))["extra"]!["trainer"]!["position"];
        if (position is not null && (int)position["next_batch"]! > 0)
            Assert.Equal((long)position["samples"]!, position["train_confusion"]!.AsArray().Sum(n => (long)n!)); // both ranks' counts

        var resumed = MpiRun.Run(2, "acwa.dll", Feedback(dir.File("resumed"), "--distributed", "--resume"));
        Assert.True(resumed.Code == 0, resumed.Err);
        var (a, _) = TensorFile.Load(dir.File("many/checkpoint.acwa"));
        var (b, _) = TensorFile.Load(dir.File("resumed/checkpoint.acwa"));
        for (int i = 0; i < a.Count; i++) Assert.True(a[i].Data is null ? a[i].Int64Data!.SequenceEqual(b[i].Int64Data!) : a[i].Data!.SequenceEqual(b[i].Data!), $"{a[i].Name} differs");
        Assert.Equal(weights, File.ReadAllText(dir.File("resumed/weights.csv")));
    }

    /// <summary>
    /// <c>la-recall</c> moves the <c>log_prior</c> control from the all-reduced validation report on every rank: the ranks agree,
    /// train what one process trains, and end with one process's policy state (the recall integral behind the offsets).
    /// </summary>
    [Fact]
    public void N_ranks_move_the_logit_adjustment_offsets_as_one_process_does()
    {
        using var dir = new TempDir();
        var data = LearnableIdxDataset.Write(dir, 60, 10);
        string[] Args(string outDir, params string[] more) =>
            ["train", "--dataset", data, "--model", "mlp", "--imbalance", "step", "--loss", "la", "--policy", "la-recall:eta=2", "--optimizer", "adam",
             "--lr", "0.0003", "--epochs", "3", "--batch", "30", "--threads", "1", "--seed", "5", "--quiet", "--out", outDir, .. more];
        TrainOnceAndOnRanks(dir, 2, 3, Args);
        var (worst, where, _) = RelativeDifference(dir.File("one"), dir.File("many"));
        Assert.True(worst <= 1e-5, $"relative difference {worst:E3} in {where}");
        static string Integral(string checkpoint) => TensorFile.LoadMeta(checkpoint)["extra"]!["trainer"]!["policy"]!["integral"]!.ToJsonString();
        var integral = Integral(dir.File("one/checkpoint.acwa"));
        log.WriteLine($"recall integral after 3 epochs: {integral}");
        Assert.NotEqual("[0,0,0,0,0,0,0,0,0,0]", integral);
        Assert.Equal(integral, Integral(dir.File("many/checkpoint.acwa")));
    }

    [Fact]
    public void A_sigterm_to_one_rank_stops_all_at_the_same_step_and_resume_with_the_same_N_is_bit_identical()
    {
        using var dir = new TempDir();
        var data = LearnableIdxDataset.Write(dir, 60, 10);
        var straight = MpiRun.Run(2, "acwa.dll", Args(data, dir.File("straight"), "mlp", "adam", 3, "--distributed"));
        Assert.True(straight.Code == 0, straight.Err);

        // SIGTERM to rank 1 once rank 1 has reported epoch 1: the stop request travels with the next step's all-reduce.
        int pid1 = 0; bool sent = false;
        var stopped = MpiRun.Run(2, "acwa.dll", Args(data, dir.File("resumed"), "mlp", "adam", 3, "--distributed", "--checkpoint-every", "4"), onErrLine: (line, _) =>
        {
            if (Regex.Match(line, @"^distributed: rank 1 of 2, pid (\d+)") is { Success: true } m) pid1 = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            if (!sent && line.StartsWith("rank 1 of 2, epoch 1:", StringComparison.Ordinal) && pid1 > 0) { sent = true; kill(pid1, 15); }
        });
        Assert.True(sent, stopped.Err);
        Assert.True(stopped.Code != 0, stopped.Err);
        Assert.Contains("interrupted; resume with: mpirun -np 2 acwa", stopped.Err);

        var wrongN = MpiRun.Run(3, "acwa.dll", Args(data, dir.File("resumed"), "mlp", "adam", 3, "--distributed", "--resume"), timeoutSeconds: 120);
        Assert.NotEqual(0, wrongN.Code);
        Assert.Contains("was written by a run on 2 rank(s); this run has 3", wrongN.Err);
        var single = OneProcess(Args(data, dir.File("resumed"), "mlp", "adam", 3, "--resume"));
        Assert.NotEqual(0, single.Code);
        Assert.Contains("this run has 1", single.Err + single.Out);

        var resumed = MpiRun.Run(2, "acwa.dll", Args(data, dir.File("resumed"), "mlp", "adam", 3, "--distributed", "--resume"));
        Assert.True(resumed.Code == 0, resumed.Err);
        var (a, _) = TensorFile.Load(dir.File("straight/checkpoint.acwa"));
        var (b, _) = TensorFile.Load(dir.File("resumed/checkpoint.acwa"));
        Assert.Equal(a.Select(t => t.Name), b.Select(t => t.Name));
        for (int i = 0; i < a.Count; i++) Assert.True(a[i].Data is null ? a[i].Int64Data!.SequenceEqual(b[i].Int64Data!) : a[i].Data!.SequenceEqual(b[i].Data!), $"{a[i].Name} differs");
        Assert.Equal(File.ReadAllBytes(dir.File("straight/model.onnx")), File.ReadAllBytes(dir.File("resumed/model.onnx")));
        Assert.Equal(File.ReadAllText(dir.File("straight/weights.csv")), File.ReadAllText(dir.File("resumed/weights.csv")));
    }

    [Fact]
    public void A_killed_rank_ends_every_rank_non_zero_within_a_bounded_time_naming_the_rank()
    {
        using var dir = new TempDir();
        var data = LearnableIdxDataset.Write(dir, 60, 10);
        int pid0 = 0, pid1 = 0; bool killed = false;
        var clock = new Stopwatch();
        var r = MpiRun.Run(2, "acwa.dll", Args(data, dir.File("run"), "mlp", "adam", 200, "--distributed"), timeoutSeconds: 240, onErrLine: (line, _) =>
        {
            if (Regex.Match(line, @"^distributed: rank (\d) of 2, pid (\d+)") is { Success: true } m)
            {
                if (m.Groups[1].Value == "0") pid0 = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
                else pid1 = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            }
            if (!killed && line.StartsWith("rank 0 of 2, epoch 2:", StringComparison.Ordinal) && pid1 > 0)
            {
                killed = true; clock.Start();
                kill(pid1, 9); // SIGKILL: no chance to say anything
            }
        });
        Assert.True(killed, r.Err);
        log.WriteLine($"after the kill, mpirun exited {r.Code} in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.NotEqual(0, r.Code);
        Assert.True(clock.Elapsed.TotalSeconds < 60, $"{clock.Elapsed.TotalSeconds:F0} s");
        Assert.Matches(@"process rank 1 .*(signal 9|Killed)", r.Err + r.Out);
        // Rank 0 is gone too (or a zombie waiting to be reaped), within seconds.
        var gone = Stopwatch.StartNew();
        while (File.Exists($"/proc/{pid0}/stat") && !File.ReadAllText($"/proc/{pid0}/stat").Contains(") Z ", StringComparison.Ordinal) && gone.Elapsed.TotalSeconds < 30) Thread.Sleep(100);
        log.WriteLine($"rank 0 gone {clock.Elapsed.TotalSeconds:F1} s after the kill");
        Assert.True(gone.Elapsed.TotalSeconds < 30, "rank 0 still runs 30 s after mpirun exited");
    }
}
