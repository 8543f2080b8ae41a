using Acwa.Cli.Commands;
using Acwa.Cli.Training;
using Acwa.Onnx.IO;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runs;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>Bad output paths and resumes with other settings: a one-line error naming the path or setting, nothing overwritten.</summary>
public sealed class OutputPathAndResumeErrorTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void AtomicWriteUnderAFileOrOntoAFolderNamesThePathAndLeavesNoTempFile()
    {
        var file = _dir.File("plain");
        File.WriteAllText(file, "keep");
        var target = Path.Combine(file, "report.json");
        var e = Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllText(target, "{}"));
        Assert.Contains(target, e.Message);
        Assert.Equal("keep", File.ReadAllText(file));

        var folder = Directory.CreateDirectory(_dir.File("folder")).FullName;
        var e2 = Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllText(folder, "{}"));
        Assert.Contains(folder, e2.Message);
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp-*"));
    }

    [Fact]
    public void MetricsJsonIntoAMissingFolderUnderAFileNamesTheJsonPath()
    {
        var labels = _dir.File("y.csv");
        File.WriteAllText(labels, "0\n1\n1\n");
        var file = _dir.File("plain");
        File.WriteAllText(file, "keep");
        var json = Path.Combine(file, "m.json");
        var err = new StringWriter();
        int rc = MetricsCommand.Run(new MetricsOptions(labels, Predictions: labels, JsonOut: json), new StringWriter(), err);
        Assert.Equal(2, rc);
        Assert.Contains(json, err.ToString());
    }

    [Fact]
    public void ResumeWithAnotherLossIsRefusedAndConfigIsKept()
    {
        var outDir = _dir.File("run");
        var o = new TrainingRunOptions { Dataset = LearnableIdxDataset.Write(_dir), Model = "mlp", Epochs = 1, Batch = 64, OutDir = outDir, Threads = 1 };
        TrainRun.Run(o, new StringWriter());
        var config = File.ReadAllText(Path.Combine(outDir, "config.json"));
        var checkpoint = File.ReadAllBytes(Path.Combine(outDir, "checkpoint.acwa"));

        var err = new StringWriter();
        Assert.Equal(2, TrainRun.Execute(o with { Resume = true, Loss = LossKind.Focal }, new StringWriter(), err));
        Assert.Contains("loss", err.ToString());
        Assert.Contains("focal", err.ToString());
        Assert.Equal(config, File.ReadAllText(Path.Combine(outDir, "config.json")));
        Assert.Equal(checkpoint, File.ReadAllBytes(Path.Combine(outDir, "checkpoint.acwa")));

        // Changing only where it runs is fine.
        Assert.Equal(0, TrainRun.Execute(o with { Resume = true, Threads = 2 }, new StringWriter(), new StringWriter()));
    }

    [Fact]
    public void TrainOutThatIsAFileIsAOneLineError()
    {
        var file = _dir.File("plain");
        File.WriteAllText(file, "keep");
        var err = new StringWriter();
        var o = new TrainingRunOptions { Dataset = "idx:/nonexistent/a,/nonexistent/b", Model = "mlp", Epochs = 1, OutDir = file };
        Assert.Equal(2, TrainRun.Execute(o, new StringWriter(), err));
        Assert.Contains(file, err.ToString());
        Assert.Equal("keep", File.ReadAllText(file));
    }
}
