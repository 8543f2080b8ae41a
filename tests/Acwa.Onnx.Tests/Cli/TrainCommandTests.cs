using System.Globalization;
using System.Text.Json.Nodes;
using Acwa.Cli;
using Acwa.Cli.Commands;
using Acwa.Cli.Training;
using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Models;
using Acwa.Onnx.Training.Runs;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>
/// <c>acwa train</c> end to end on a small learnable dataset written in the real IDX format: the run folder, the report,
/// resume of a finished run, agreement of <c>acwa eval</c> with the run's final test evaluation, and bad input.
/// </summary>
public sealed class TrainCommandTests : IDisposable
{
    private readonly TempDir _dir = new();

    private string Dataset() => LearnableIdxDataset.Write(_dir);

    [Fact]
    public void TrainsWritesRunFolderAndEvalAgrees()
    {
        var outDir = _dir.File("run");
        var o = new TrainingRunOptions { Dataset = Dataset(), Imbalance = "step", Model = "mlp", Epochs = 3, Batch = 32, OutDir = outDir, Threads = 1 };
        var log = new StringWriter();
        var outcome = TrainRun.Run(o, log);

        foreach (var f in new[] { "config.json", "metrics.csv", "metrics.json", "weights.csv", "checkpoint.acwa", "model.onnx", "confusion_matrix.csv",
                     "confusion_matrix.png", "f1_per_class.png", "weights_per_class.png", "test_report.json" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), $"run folder lacks {f}");
        var csv = File.ReadAllLines(Path.Combine(outDir, "metrics.csv"));
        Assert.Equal(4, csv.Length); // header + 3 epochs
        Assert.Equal(3, outcome.History.Count);
        // The learnable task is easy: the MLP must be far above chance on the test split.
        Assert.NotNull(outcome.Test);
        Assert.True(outcome.Test!.MacroF1 > 0.8, $"test macro-F1 {outcome.Test.MacroF1}");
        // Paper-exact ACWA never lowers a weight (f_target = 1).
        var w = outcome.History.Select(h => h.Weights.ToArray()).ToList();
        for (int e = 1; e < w.Count; e++)
            for (int c = 0; c < 10; c++) Assert.True(w[e][c] >= w[e - 1][c]);
        Assert.Contains("test: macro-F1", log.ToString());

        // The exported model carries metadata and `acwa eval` gives the same confusion matrix as the run's final test evaluation.
        var meta = ClassifierMetadata.Read(OnnxModel.Load(Path.Combine(outDir, "model.onnx")));
        Assert.NotNull(meta.Normalization);
        Assert.Equal(10, meta.ClassNames!.Count);
        var eval = EvalCommand.Compute(new EvalOptions(Path.Combine(outDir, "model.onnx"), o.Dataset, Batch: 17), out _);
        Assert.Equal(outcome.TestConfusion!.Counts.ToArray(), eval.Matrix.Counts.ToArray());
        Assert.Equal(outcome.Test.MacroF1, eval.Report.MacroF1, 12);
    }


    [Fact]
    public void ResumeOfFinishedRunDoesNotRetrainAndRefusesToOverwrite()
    {
        var outDir = _dir.File("run2");
        var o = new TrainingRunOptions { Dataset = Dataset(), Model = "mlp", Epochs = 2, Batch = 64, OutDir = outDir, Threads = 1 };
        var first = TrainRun.Run(o, new StringWriter());
        var checkpointBytes = File.ReadAllBytes(Path.Combine(outDir, "checkpoint.acwa"));

        // Without --resume an existing run is not overwritten.
        var err = new StringWriter();
        Assert.Equal(2, TrainRun.Execute(o, new StringWriter(), err));
        Assert.Contains("--resume", err.ToString());

        var again = TrainRun.Run(o with { Resume = true }, new StringWriter());
        Assert.Equal(checkpointBytes, File.ReadAllBytes(Path.Combine(outDir, "checkpoint.acwa")));
        Assert.Equal(2, again.History.Count);
        Assert.Equal(first.TestConfusion!.Counts.ToArray(), again.TestConfusion!.Counts.ToArray());
    }

    [Fact]
    public void FeedbackTrainingIsRecordedAndAResumeWithTheOtherSourceIsRefused()
    {
        var outDir = _dir.File("feedback");
        var (rc, text, err) = CliRun.Invoke("train", "--dataset", Dataset(), "--epochs", "1", "--batch", "64", "--threads", "1", "--out", outDir, "--quiet", "--feedback", "training");
        Assert.True(rc == 0, err);
        Assert.Contains("policy acwa:", text, StringComparison.Ordinal);
        Assert.Contains("fed from training predictions", text, StringComparison.Ordinal);
        Assert.Equal("training", JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")))!["feedback"]!.GetValue<string>());
        var (rc2, _, err2) = CliRun.Invoke("train", "--dataset", Dataset(), "--epochs", "1", "--batch", "64", "--threads", "1", "--out", outDir, "--quiet", "--resume");
        Assert.Equal(2, rc2);
        Assert.Contains("feedback = \"training\", this run has \"validation\"", err2, StringComparison.Ordinal);
    }

    [Fact]
    public void FineTuningWithFrozenPatternsLeavesThoseParametersUntouched()
    {
        // Fine-tuning the head only: every conv* initializer is frozen (baked into the graphs), the rest trains.
        var outDir = _dir.File("frozen");
        var o = new TrainingRunOptions { Dataset = Dataset(), Model = "cnn", Epochs = 1, Batch = 64, OutDir = outDir, Threads = 1, Frozen = ["conv*"] };
        TrainRun.Run(o, new StringWriter());
        var initial = ModelCatalog.Resolve("cnn", 10, 1, 28, 28, 0).Graph.Initializer.ToDictionary(t => t.Name, Tensors.ToFloats);
        var trained = OnnxModel.Load(Path.Combine(outDir, "model.onnx")).Graph.Initializer.ToDictionary(t => t.Name, Tensors.ToFloats);
        foreach (var name in new[] { "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias" })
            Assert.Equal(initial[name], trained[name]);
        foreach (var name in new[] { "fc1.weight", "fc2.weight", "fc2.bias" })
            Assert.NotEqual(initial[name], trained[name]);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")))!;
        Assert.Equal("conv*", config["frozen"]![0]!.GetValue<string>());

        // A pattern that matches nothing, and both options at once, are refused with the reason.
        var (rc, _, err) = CliRun.Invoke("train", "--dataset", Dataset(), "--model", "cnn", "--epochs", "1", "--out", _dir.File("frozen-bad"), "--quiet", "--frozen", "backbone.*");
        Assert.NotEqual(0, rc);
        Assert.Contains("frozen pattern 'backbone.*' matches no initializer", err);
        Assert.Contains("conv1.weight", err); // the candidates are listed
        var (rc2, _, err2) = CliRun.Invoke("train", "--dataset", Dataset(), "--epochs", "1", "--out", _dir.File("frozen-both"), "--quiet", "--frozen", "a", "--trainable", "b");
        Assert.NotEqual(0, rc2);
        Assert.Contains("either --trainable or --frozen", err2);
    }

    [Theory]
    [InlineData("--loss", "hinge", "--loss: unknown loss 'hinge'")]
    [InlineData("--policy", "acwa-magic", "acwa-magic")]
    [InlineData("--model", "vgg", "unknown model 'vgg'")]
    [InlineData("--device", "tpu", "tpu")]
    [InlineData("--dataset", "mnist-ish", "mnist-ish")]
    [InlineData("--feedback", "test", "--feedback: unknown feedback source 'test'; valid: validation, training")]
    public void BadOptionsGiveClearErrors(string option, string value, string expected)
    {
        var args = new List<string> { "train", "--epochs", "1", "--out", _dir.File("bad"), "--quiet" };
        if (option != "--dataset") args.AddRange(["--dataset", Dataset()]);
        args.AddRange([option, value]);
        var (rc, _, err) = CliRun.Invoke([.. args]);
        Assert.NotEqual(0, rc);
        Assert.Contains(expected, err, StringComparison.Ordinal);
    }

    [Fact]
    public void CudaGraphOnTheCpuIsRefusedBeforeAnythingIsWritten()
    {
        var outDir = _dir.File("graph");
        var (rc, _, err) = CliRun.Invoke("train", "--dataset", Dataset(), "--epochs", "1", "--out", outDir, "--quiet", "--cuda-graph");
        Assert.Equal(2, rc);
        Assert.Contains("--cuda-graph: needs --device cuda or cuda:N, not 'cpu'", err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
        var (rc2, _, err2) = CliRun.Invoke("bench", "train", "--model", "mlp", "--cuda-graph");
        Assert.NotEqual(0, rc2);
        Assert.Contains("--cuda-graph needs a CUDA device (--device cuda), not 'cpu'", err2, StringComparison.Ordinal);
    }

    [Fact]
    public void HelpListsTrainWithDefaults()
    {
        var (_, text, _) = CliRun.Invoke("train", "--help");
        foreach (var opt in new[] { "--dataset", "--imbalance", "--model", "--loss", "--policy", "--optimizer", "--lr", "--epochs", "--batch", "--device", "--seed", "--out", "--resume", "--feedback" })
            Assert.Contains(opt, text, StringComparison.Ordinal);
        Assert.Contains("optimistic", text, StringComparison.Ordinal);
        Assert.Contains("fashion-mnist", text, StringComparison.Ordinal);
    }

    [Fact]
    public void HelpListsEveryScheduleKeyAndTheSameMomentumAsArtifacts()
    {
        var (_, train, _) = CliRun.Invoke("train", "--help");
        // --schedule's help is built from the parser's own table: every name and every key it accepts.
        foreach (var name in Acwa.Onnx.Training.LearningRateSchedules.Names)
        {
            Assert.Contains(name, train, StringComparison.Ordinal);
            foreach (var key in Acwa.Onnx.Training.LearningRateSchedules.OptionsOf(name)) Assert.Contains(key + "=", train, StringComparison.Ordinal);
        }
        Assert.Contains("every=", train, StringComparison.Ordinal);
        var (_, artifacts, _) = CliRun.Invoke("artifacts", "--help");
        // SGD momentum: one default, 0.9, in both commands.
        foreach (var help in new[] { train, artifacts })
        {
            var line = help.Split('\n').Single(l => l.TrimStart().StartsWith("--momentum", StringComparison.Ordinal));
            Assert.Contains("[default: 0.9]", line, StringComparison.Ordinal);
        }
        Assert.Equal(0.9f, ArtifactsCommand.ToArtifactOptions(new ArtifactsCommandOptions("m.onnx", "o", Optimizer: "sgd")).Momentum);
        Assert.Equal(0f, ArtifactsCommand.ToArtifactOptions(new ArtifactsCommandOptions("m.onnx", "o", Optimizer: "adam")).Momentum);
    }

    public void Dispose() => _dir.Dispose();
}
