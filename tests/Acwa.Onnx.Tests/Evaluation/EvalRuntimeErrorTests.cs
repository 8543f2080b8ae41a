using Acwa.Cli.Commands;
using Acwa.Cli.Reporting;
using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Tests.Data;

namespace Acwa.Onnx.Tests.Evaluation;

/// <summary>
/// Failures that only show while running: a model whose symbolic input admits the images but whose graph fails on them,
/// NaN logits in <c>acwa metrics</c>, and plots written onto a folder. Each names the file.
/// </summary>
public sealed class EvalRuntimeErrorTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void GraphThatFailsOnTheImagesNamesTheModelAndTheImageShape()
    {
        // x [N, C, H, W] (all symbolic) -> Reshape [-1, 9] -> MatMul [9, 3]: only 3x3 single-channel images fit.
        var b = new GraphBuilder("sym");
        var x = b.Input("x", ElementType.Float, null, null, null, null);
        var flat = b.Op("Reshape", [x, b.ConstInt64("flat_shape", -1, 9)]);
        var logits = b.Op("MatMul", [flat, b.ConstFloat("w", [9, 3], new float[27])]);
        b.OutputAs(logits, "logits", ElementType.Float, null, 3);
        var path = _dir.File("sym.onnx");
        OnnxModel.Save(OnnxModel.Create(b.Graph), path);

        using var ev = Evaluator.Load(path, new EvaluatorOptions { IntraOpThreads = 1 });
        var e = Assert.Throws<InvalidDataException>(() => ev.Evaluate(new float[4 * 4], new int[] { 0, 1, 2, 0 }, 1, 2, 2));
        Assert.Contains(path, e.Message);
        Assert.Contains("'x'", e.Message);
        Assert.Contains("[N, 1, 2, 2]", e.Message);
        // The images that fit still evaluate.
        Assert.Equal(2, ev.Evaluate(new float[2 * 9], new int[] { 0, 1 }, 1, 3, 3).Images);
    }

    [Fact]
    public void NanLogitsErrorNamesTheLogitsFile()
    {
        var labels = _dir.File("y.csv");
        File.WriteAllText(labels, "0\n1\n");
        var logits = _dir.File("logits.csv");
        File.WriteAllText(logits, "0.1,0.9\nnan,0.2\n");
        var err = new StringWriter();
        Assert.Equal(2, MetricsCommand.Run(new MetricsOptions(labels, Logits: logits), new StringWriter(), err));
        Assert.Contains(logits, err.ToString());
        Assert.Contains("row 1", err.ToString());
        Assert.DoesNotContain("(Parameter", err.ToString());
    }

    [Fact]
    public void PlotOntoAFolderIsAnErrorNamingItAndAPlotReplacesAnOldFileWithoutTempFiles()
    {
        var folder = Directory.CreateDirectory(_dir.File("plot.png")).FullName;
        var e = Assert.ThrowsAny<IOException>(() => TrainingPlots.PerClassLines(folder, "t", "y", [[0.5, 0.7]], ["a", "b"]));
        Assert.Contains(folder, e.Message);

        var png = _dir.File("ok.png");
        File.WriteAllText(png, "old");
        TrainingPlots.PerClassLines(png, "t", "y", [[0.5, 0.7], [0.6, 0.8]], ["a", "b"]);
        Assert.Equal(0x89, File.ReadAllBytes(png)[0]); // PNG signature
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp-*"));
    }
}
