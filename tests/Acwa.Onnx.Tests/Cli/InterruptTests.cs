using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Acwa.Onnx.IO;
using Acwa.Onnx.Tests.Data;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>
/// <c>acwa train</c> as a real process, stopped by the signals a user or a scheduler sends: SIGINT (Ctrl-C) and SIGTERM
/// checkpoint at the next step boundary, say how to resume and exit 130 / 143; SIGKILL loses at most
/// <c>--checkpoint-every</c> steps. In every case <c>--resume</c> ends with the model of an uninterrupted run, bit for bit
/// (one CPU thread).
/// </summary>
[Trait("Category", TestCategories.Slow)]
public class InterruptTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    private const int SIGINT = 2, SIGTERM = 15;

    private static string[] Args(string data, string model, string outDir, params string[] more) =>
        ["train", "--dataset", data, "--model", model, "--imbalance", "none", "--epochs", "3", "--batch", "16", "--threads", "1", "--seed", "4", "--out", outDir, .. more];

    private sealed record Finished(int Code, string Out, string Err);

    /// <summary>Starts <c>acwa ARGS</c>; <paramref name="signalWhen"/> sees each stdout line and returns the signal to send (or 0).</summary>
    private static Finished RunProcess(string[] args, Func<string, string, int>? signalWhen = null)
    {
        var acwa = Path.Combine(AppContext.BaseDirectory, "acwa.dll");
        var host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        var psi = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(acwa);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var proc = Process.Start(psi)!;
        var err = proc.StandardError.ReadToEndAsync();
        var output = new System.Text.StringBuilder();
        bool sent = false;
        string? line;
        while ((line = proc.StandardOutput.ReadLine()) is not null)
        {
            output.AppendLine(line);
            if (sent || signalWhen is null) continue;
            int sig = signalWhen(line, output.ToString());
            if (sig == 9) { proc.Kill(); sent = true; }
            else if (sig != 0) { Assert.Equal(0, kill(proc.Id, sig)); sent = true; }
        }
        Assert.True(proc.WaitForExit(120_000), "acwa did not exit");
        if (signalWhen is not null) Assert.True(sent, $"the signal was never sent; output:\n{output}");
        return new Finished(proc.ExitCode, output.ToString(), err.Result);
    }

    private static void AssertSameModel(string expectedDir, string actualDir)
    {
        var (a, _) = TensorFile.Load(Path.Combine(expectedDir, "checkpoint.acwa"));
        var (b, _) = TensorFile.Load(Path.Combine(actualDir, "checkpoint.acwa"));
        Assert.Equal(a.Select(t => t.Name), b.Select(t => t.Name));
        for (int i = 0; i < a.Count; i++) Assert.Equal(a[i].Data, b[i].Data); // bit for bit
        Assert.Equal(File.ReadAllBytes(Path.Combine(expectedDir, "model.onnx")), File.ReadAllBytes(Path.Combine(actualDir, "model.onnx")));
        Assert.Equal(File.ReadAllText(Path.Combine(expectedDir, "confusion_matrix.csv")), File.ReadAllText(Path.Combine(actualDir, "confusion_matrix.csv")));
        var ra = JsonNode.Parse(File.ReadAllText(Path.Combine(expectedDir, "test_report.json")))!;
        var rb = JsonNode.Parse(File.ReadAllText(Path.Combine(actualDir, "test_report.json")))!;
        Assert.Equal((double)ra["macro"]!["f1"]!, (double)rb["macro"]!["f1"]!);
        var ma = (JsonArray)JsonNode.Parse(File.ReadAllText(Path.Combine(expectedDir, "metrics.json")))!;
        var mb = (JsonArray)JsonNode.Parse(File.ReadAllText(Path.Combine(actualDir, "metrics.json")))!;
        Assert.Equal(ma.Count, mb.Count);
        for (int e = 0; e < ma.Count; e++)
        {
            Assert.Equal((double)ma[e]!["train_loss"]!, (double)mb[e]!["train_loss"]!);
            Assert.Equal((double)ma[e]!["val_macro_f1"]!, (double)mb[e]!["val_macro_f1"]!);
        }
    }

    /// <summary>The arguments of the "resume with: acwa ..." line (single-quoted words unquoted).</summary>
    private static string[] ResumeCommand(string err)
    {
        var line = err.Split('\n').Single(l => l.StartsWith("interrupted; resume with: acwa ", StringComparison.Ordinal));
        var words = new List<string>();
        var word = new System.Text.StringBuilder();
        bool quoted = false, any = false;
        foreach (char ch in line["interrupted; resume with: acwa ".Length..].TrimEnd())
        {
            if (ch == '\'') { quoted = !quoted; any = true; continue; }
            if (ch == ' ' && !quoted) { if (any) words.Add(word.ToString()); word.Clear(); any = false; continue; }
            word.Append(ch); any = true;
        }
        if (any) words.Add(word.ToString());
        return words.ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void SigintDuringAnEpochOfACnnRunCheckpointsSaysHowToResumeAndResumeEndsAsAnUninterruptedRun(int epoch)
    {
        using var dir = new TempDir();
        var data = LearnableIdxDataset.Write(dir, 200, 20); // 2,000 training images, about 113 CNN steps an epoch
        var straight = CliRun.Invoke(Args(data, "cnn", dir.File("straight")));
        Assert.True(straight.Code == 0, straight.Err);

        var runDir = dir.File("run");
        // Epoch 1: right after the run's set-up line, training has just started. Epoch 2: right after epoch 1's line.
        var first = RunProcess(Args(data, "cnn", runDir), (line, _) =>
            (epoch == 1 ? line.StartsWith("model cnn", StringComparison.Ordinal) : line.StartsWith("epoch 1/3:", StringComparison.Ordinal)) ? SIGINT : 0);
        Assert.True(first.Code == 130, $"exit {first.Code}\n{first.Out}\n{first.Err}");
        Assert.Contains($"SIGINT: interrupted in epoch {epoch} before batch", first.Err);
        Assert.Contains("checkpoint written to", first.Err);
        var meta = TensorFile.LoadMeta(Path.Combine(runDir, "checkpoint.acwa"))["extra"]!["trainer"]!;
        Assert.Equal(epoch - 1, (int)meta["completed_epochs"]!);
        Assert.Equal(epoch - 1, (int)meta["position"]!["epoch"]!);
        Assert.False(File.Exists(Path.Combine(runDir, "model.onnx")));

        var resumeArgs = ResumeCommand(first.Err);
        Assert.Equal(Args(data, "cnn", runDir).Append("--resume"), resumeArgs);
        var resumed = RunProcess(resumeArgs);
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.Contains($"in epoch {epoch}/3 at batch", resumed.Out);
        AssertSameModel(dir.File("straight"), runDir);
    }

    [Fact]
    public void SigtermAndSigkillLoseAtMostTheStepsSinceTheLastCheckpointAndResumeBitIdentical()
    {
        using var dir = new TempDir();
        var data = LearnableIdxDataset.Write(dir, 600, 20); // 6,000 images, 338 MLP steps an epoch: the signal lands well inside epoch 2
        var straight = CliRun.Invoke(Args(data, "mlp", dir.File("straight"), "--checkpoint-every", "25"));
        Assert.True(straight.Code == 0, straight.Err);

        // SIGTERM in epoch 2: checkpoint at the step boundary, exit 143.
        var termDir = dir.File("term");
        var term = RunProcess(Args(data, "mlp", termDir, "--checkpoint-every", "25"), (line, _) => line.StartsWith("epoch 1/3:", StringComparison.Ordinal) ? SIGTERM : 0);
        Assert.True(term.Code == 143, $"exit {term.Code}\n{term.Err}");
        Assert.Contains("SIGTERM: interrupted in epoch 2", term.Err);
        var resumed = RunProcess(ResumeCommand(term.Err));
        Assert.True(resumed.Code == 0, resumed.Err);
        AssertSameModel(dir.File("straight"), termDir);

        // SIGKILL (no chance to write anything) once a mid-epoch checkpoint exists: the resume starts from it.
        var killDir = dir.File("kill");
        var ckpt = Path.Combine(killDir, "checkpoint.acwa");
        var killed = RunProcess(Args(data, "mlp", killDir, "--checkpoint-every", "25"), (line, _) =>
            line.StartsWith("epoch 1/3:", StringComparison.Ordinal) ? 9 : 0);
        Assert.NotEqual(0, killed.Code);
        var step = (long)TensorFile.LoadMeta(ckpt)["extra"]!["trainer"]!["global_step"]!;
        Assert.True(step > 0, $"checkpoint at step {step}");
        var again = RunProcess([.. Args(data, "mlp", killDir, "--checkpoint-every", "25"), "--resume"]);
        Assert.True(again.Code == 0, again.Err);
        AssertSameModel(dir.File("straight"), killDir);
    }

    [Fact]
    public void SigtermStopsAReproduceGridWithACheckpointAndRerunningItGivesTheUninterruptedResults()
    {
        using var dir = new TempDir();
        var data = LearnableIdxDataset.Write(dir, 400, 20); // 225 steps an epoch: the signal lands inside cb's epoch 2
        string[] Grid(string outDir) => ["reproduce", "--dataset", data, "--model", "mlp", "--methods", "ce,cb", "--seeds", "1", "--epochs", "3",
            "--batch", "16", "--threads", "1", "--checkpoint-every", "10", "--out", outDir];
        var straight = CliRun.Invoke(Grid(dir.File("straight")));
        Assert.True(straight.Code == 0, straight.Err);

        var outDir = dir.File("grid");
        var term = RunProcess(Grid(outDir), (line, _) => line.StartsWith("cb seed0 epoch 1/3:", StringComparison.Ordinal) ? SIGTERM : 0);
        Assert.True(term.Code == 143, $"exit {term.Code}\n{term.Out}\n{term.Err}");
        Assert.Contains("SIGTERM: interrupted in epoch 2", term.Err);
        Assert.False(File.Exists(Path.Combine(outDir, "results.json")));
        Assert.Empty(Directory.GetFiles(outDir, "run.lock", SearchOption.AllDirectories));
        var again = RunProcess(ResumeCommand(term.Err));
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("cb seed0: resumed after epoch 1/3", again.Out);
        foreach (var method in new[] { "ce", "cb" })
            AssertSameModel(Path.Combine(dir.File("straight"), method, "seed0"), Path.Combine(outDir, method, "seed0"));
    }

    [Fact]
    public void ResumeWithoutACheckpointSaysItStartsFresh()
    {
        using var dir = new TempDir();
        var data = LearnableIdxDataset.Write(dir);
        var r = CliRun.Invoke([.. Args(data, "mlp", dir.File("run")).Select(a => a == "3" ? "1" : a), "--resume"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("resume: no checkpoint in", r.Out);
        Assert.Contains("starting a fresh run", r.Out);
    }
}
