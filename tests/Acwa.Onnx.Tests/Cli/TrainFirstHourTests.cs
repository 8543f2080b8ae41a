using System.Diagnostics;
using System.Text.Json.Nodes;
using Acwa.Onnx.IO;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Tests.Training.Runtime;
using Acwa.Onnx.Training.Runtime;
using SkiaSharp;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>
/// A new user's first runs of <c>acwa train</c> on their own data (issue 24): the data taken as they are, the minority
/// classes named by the data, what the model sees, and failures that come before any work and leave nothing behind.
/// </summary>
public sealed class TrainFirstHourTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Learnable 8x8 uint8 images in .npy files, <paramref name="perClass"/> per class (class k lights row 2k).</summary>
    private string Npy(string name, int[] perClass, int[] testPerClass)
    {
        string Write(string file, int seed, int[] counts)
        {
            var rng = new Random(seed);
            int n = counts.Sum();
            var px = new byte[n * 64];
            var ys = new long[n];
            int i = 0;
            for (int k = 0; k < counts.Length; k++)
                for (int j = 0; j < counts[k]; j++, i++)
                {
                    ys[i] = k;
                    for (int p = 0; p < 64; p++) px[i * 64 + p] = (byte)(p / 8 == 2 * k ? 150 + rng.Next(100) : rng.Next(120));
                }
            NpyFile.Write<byte>(_dir.File($"{file}_x.npy"), px, [n, 8, 8]);
            NpyFile.Write<long>(_dir.File($"{file}_y.npy"), ys);
            return $"{_dir.File($"{file}_x.npy")},{_dir.File($"{file}_y.npy")}";
        }
        return $"npy:{Write(name, 1, perClass)},{Write(name + "_test", 2, testPerClass)}";
    }

    private static JsonNode Json(string dir, string file) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, file)))!;

    private static string Line(string text, string start) =>
        text.Split('\n').Select(l => l.TrimEnd('\r')).FirstOrDefault(l => l.StartsWith(start, StringComparison.Ordinal))
        ?? throw new Xunit.Sdk.XunitException($"no line starting with '{start}' in:\n{text}");

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void OwnNpyDataIsTakenAsItIsAndItsMinorityIsNamedByTheCounts()
    {
        var outDir = _dir.File("npy-run");
        var (rc, text, err) = CliRun.Invoke("train", "--dataset", Npy("a", [300, 60, 20], [30, 30, 30]), "--epochs", "1", "--batch", "32", "--threads", "1", "--out", outDir, "--quiet");
        Assert.True(rc == 0, err);
        Assert.Equal("none", Json(outDir, "config.json")["imbalance"]!.GetValue<string>());
        var data = Line(text, "data: ");
        Assert.Contains("imbalance none (the default for npy: the data as they are)", data, StringComparison.Ordinal);
        Assert.Contains("train counts [270, 54, 18]", data, StringComparison.Ordinal); // all of it, less the 10 % validation split
        var minority = Json(outDir, "test_report.json")["minority"]!;
        Assert.Equal([1, 2], minority["classes"]!.AsArray().Select(c => c!.GetValue<int>()));
        var f1 = Json(outDir, "test_report.json")["classes"]!.AsArray().Select(c => c!["f1"]!.GetValue<double>()).ToArray();
        Assert.Equal((f1[1] + f1[2]) / 2, minority["f1"]!.GetValue<double>(), 12);
        Assert.Contains("minority-class F1", Line(text, "test: "), StringComparison.Ordinal);

        // The same data with the labels reversed: the largest class (now 2) is not called a minority.
        var reversed = _dir.File("npy-reversed");
        Assert.Equal(0, CliRun.Invoke("train", "--dataset", Npy("b", [20, 60, 300], [30, 30, 30]), "--epochs", "1", "--batch", "32", "--threads", "1", "--out", reversed, "--quiet").Code);
        Assert.Equal([0, 1], Json(reversed, "test_report.json")["minority"]!["classes"]!.AsArray().Select(c => c!.GetValue<int>()));

        // Asked for explicitly, the paper's protocol applies, says so without "default", and reports the paper's set.
        var step = _dir.File("npy-step");
        var (rc3, text3, _) = CliRun.Invoke("train", "--dataset", Npy("c", [100, 100, 100, 100], [20, 20, 20, 20]), "--imbalance", "step", "--epochs", "1", "--batch", "32", "--threads", "1", "--out", step, "--quiet");
        Assert.Equal(0, rc3);
        Assert.Equal("step", Json(step, "config.json")["imbalance"]!.GetValue<string>());
        Assert.Contains("| imbalance step | ", Line(text3, "data: "), StringComparison.Ordinal);
        Assert.Contains("train counts [90, 90, 9, 9]", Line(text3, "data: "), StringComparison.Ordinal);
        Assert.Equal([2, 3], Json(step, "test_report.json")["minority"]!["classes"]!.AsArray().Select(c => c!.GetValue<int>()));
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void AFolderOfSmallGreyPngsSaysWhatTheBuiltInModelSees()
    {
        foreach (var (cls, level) in new[] { ("dark", (byte)30), ("light", (byte)220) })
        {
            Directory.CreateDirectory(_dir.File(Path.Combine("pngs", cls)));
            for (int i = 0; i < 6; i++)
            {
                using var bmp = new SKBitmap(new SKImageInfo(28, 28, SKColorType.Gray8, SKAlphaType.Opaque));
                bmp.Erase(new SKColor(level, level, level));
                using var img = SKImage.FromBitmap(bmp);
                using var png = img.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(_dir.File(Path.Combine("pngs", cls, $"{i}.png")), png.ToArray());
            }
        }
        var outDir = _dir.File("png-run");
        var (rc, text, err) = CliRun.Invoke("train", "--dataset", $"folder:{_dir.File("pngs")}", "--epochs", "1", "--batch", "4", "--threads", "1",
            "--out", outDir, "--quiet");
        Assert.True(rc == 0, err);
        Assert.Equal("model mlp sees input [3, 64, 64] images: image files (the first is a 28x28 grey PNG) decoded, converted to RGB, resized to 64x64 "
                     + "(the default side; set it with the image size option; aspect ratio not kept)", Line(text, "model mlp sees "));
        Assert.Equal("none", Json(outDir, "config.json")["imbalance"]!.GetValue<string>());
    }

    [Fact]
    public void ImagesAsStoredAreSaidToBeFedAsStored()
    {
        var (rc, text, err) = CliRun.Invoke("train", "--dataset", LearnableIdxDataset.Write(_dir), "--epochs", "1", "--threads", "1", "--out", _dir.File("idx-run"), "--quiet");
        Assert.True(rc == 0, err);
        Assert.Equal("model mlp sees input [1, 28, 28] images as stored (no resize, no colour conversion)", Line(text, "model mlp sees "));
    }

    [Fact]
    public void ABadPolicyIsReportedBeforeTheDataAreRead()
    {
        // The dataset's files do not exist: a policy error that came after loading would name them instead.
        var outDir = _dir.File("bad-policy");
        var (rc, text, err) = CliRun.Invoke("train", "--dataset", $"npy:{_dir.File("missing_x.npy")},{_dir.File("missing_y.npy")}", "--policy", "foo", "--out", outDir, "--quiet");
        Assert.NotEqual(0, rc);
        Assert.Contains("--policy: Unknown class-weight policy 'foo'", err, StringComparison.Ordinal);
        Assert.DoesNotContain("data: ", text, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }

    [NoCudaFact] // the error path of a machine without a usable CUDA device; skipped, with that reason, where one is usable
    public void AnUnusableCudaDeviceIsReportedBeforeTheDataAreReadAndLeavesNoFolder()
    {
        var outDir = _dir.File(Path.Combine("new-parent", "cuda-run"));
        var (rc, text, err) = CliRun.Invoke("train", "--dataset", $"npy:{_dir.File("missing_x.npy")},{_dir.File("missing_y.npy")}", "--device", "cuda", "--out", outDir, "--quiet");
        Assert.NotEqual(0, rc);
        Assert.Contains("device 'cuda:0' is not usable", err, StringComparison.Ordinal);
        Assert.DoesNotContain("data: ", text, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.File("new-parent")));
    }

    [NoCudaFact] // needs the failure of a machine without a usable CUDA device; skipped, with that reason, where one is usable
    [Trait("Category", TestCategories.Slow)]
    public async Task OnnxRuntimesOwnLogLineStaysOutOfTheWayAndOurMessageStays()
    {
        // ONNX Runtime writes its log to the process's stderr, not to Console.Error: run the real tool as a process.
        var acwa = Path.Combine(AppContext.BaseDirectory, "acwa.dll");
        var psi = new ProcessStartInfo("dotnet", [acwa, "train", "--device", "cuda", "--out", _dir.File("cuda-proc"), "--quiet"])
        {
            RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = _dir.Path,
        };
        psi.Environment.Remove(SessionOptionsFactory.LogLevelVariable);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = await p.StandardOutput.ReadToEndAsync();
        var err = await stderr;
        await p.WaitForExitAsync();
        Assert.NotEqual(0, p.ExitCode);
        Assert.Contains("device 'cuda:0' is not usable", err, StringComparison.Ordinal);
        // No line of ONNX Runtime's own log ("2026-... [E:onnxruntime:, provider_bridge_ort.cc:...] Failed to load library ...",
        // what the GPU natives print on a machine without CUDA); our message may quote ORT's exception text.
        Assert.DoesNotContain(":onnxruntime:", stdout + err, StringComparison.Ordinal);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.False(Directory.Exists(_dir.File("cuda-proc")));
    }

    [Fact]
    public void AFailureAfterTheRunFolderWasMadeRemovesItButNeverAFolderThatWasThere()
    {
        // A --frozen pattern that matches nothing fails while compiling, after the data are loaded and the folder made.
        string dataset = LearnableIdxDataset.Write(_dir);
        var fresh = _dir.File(Path.Combine("made-here", "run"));
        var (rc, _, err) = CliRun.Invoke("train", "--dataset", dataset, "--epochs", "1", "--out", fresh, "--quiet", "--frozen", "backbone.*");
        Assert.NotEqual(0, rc);
        Assert.Contains("frozen pattern 'backbone.*' matches no initializer", err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.File("made-here")));

        var existing = _dir.File("was-there");
        Directory.CreateDirectory(existing);
        File.WriteAllText(Path.Combine(existing, "notes.txt"), "mine");
        var (rc2, _, _) = CliRun.Invoke("train", "--dataset", dataset, "--epochs", "1", "--out", existing, "--quiet", "--frozen", "backbone.*");
        Assert.NotEqual(0, rc2);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(existing, "notes.txt")));
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void AnOldRunOnTheStepProtocolResumesWithoutImbalanceGiven()
    {
        // A run folder from before the per-dataset defaults: idx data trained on step (then the default for every dataset).
        string dataset = LearnableIdxDataset.Write(_dir);
        var outDir = _dir.File("old-run");
        Assert.Equal(0, CliRun.Invoke("train", "--dataset", dataset, "--imbalance", "step", "--epochs", "1", "--threads", "1", "--out", outDir, "--quiet").Code);
        var (rc, text, err) = CliRun.Invoke("train", "--dataset", dataset, "--epochs", "2", "--threads", "1", "--out", outDir, "--resume", "--quiet");
        Assert.NotEqual(0, rc); // epochs differ: the resume check still compares everything else
        Assert.Contains("epochs", err, StringComparison.Ordinal);
        Assert.DoesNotContain("imbalance", err, StringComparison.Ordinal);
        var (rc2, text2, err2) = CliRun.Invoke("train", "--dataset", dataset, "--epochs", "1", "--threads", "1", "--out", outDir, "--resume", "--quiet");
        Assert.True(rc2 == 0, err2);
        Assert.Equal("step", Json(outDir, "config.json")["imbalance"]!.GetValue<string>());
        Assert.Contains("| imbalance step | ", Line(text2, "data: "), StringComparison.Ordinal);
        _ = text;
    }
}
