using Acwa.Onnx.Tests.Models;

namespace Acwa.Onnx.Tests.Cli;

/// <summary><c>acwa bench train</c> on forward models given as files (input and classes read from the model).</summary>
public class BenchTrainCommandTests
{
    /// <summary>
    /// Runs <c>acwa bench train</c> on a copy of the fixture in a fresh temporary folder and returns its output with every
    /// run of whitespace as one space: the console wraps lines at 140 columns, and the fixture's own path grows with the
    /// clone's path (a clone at a long path split "tiny_mlp.onnx: CPU ..." over two lines).
    /// </summary>
    private static (int Code, string Output, string Err) BenchTrain(string fixture, params string[] args)
    {
        var dir = Directory.CreateTempSubdirectory("acwa-bt-").FullName;
        try
        {
            var model = Path.Combine(dir, fixture);
            File.Copy(ModelTestUtil.Fixture(fixture), model);
            var (code, output, err) = CliRun.Invoke(["bench", "train", "--model", model, .. args]);
            return (code, System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " "), err);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void ExportedModelFilesAreCheckedAndTimed()
    {
        var (code, output, err) = BenchTrain("tiny_vit.onnx", "--batch", "16", "--warmup", "1", "--steps", "2", "--windows", "1", "--check-steps", "2", "--no-epoch");
        Assert.True(code == 0, err + output);
        Assert.Contains("tiny_vit.onnx: CPU one-ulp sensitivity over 2 Adam steps", output);
        Assert.Matches(@"tiny_vit\.onnx: [\d,]+ images/s", output);
    }

    [Theory]
    [InlineData("tiny_mlp.onnx")]  // features [N, 20]
    [InlineData("tiny_lstm.onnx")] // sequences [N, T, F] through an unrolled LSTM
    [InlineData("tiny_text.onnx")] // int64 token ids [N, T] read by an embedding
    public void FeatureSequenceAndTokenIdModelsAreCheckedAndTimed(string file)
    {
        var (code, output, err) = BenchTrain(file, "--batch", "8", "--warmup", "1", "--steps", "2", "--windows", "1", "--check-steps", "3", "--no-epoch");
        Assert.True(code == 0, err + output);
        var losses = System.Text.RegularExpressions.Regex.Match(output, System.Text.RegularExpressions.Regex.Escape(file) + @": CPU one-ulp sensitivity over 3 Adam steps: losses\s+\[([^\]]*)\]");
        Assert.True(losses.Success, output);
        var values = losses.Groups[1].Value.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries).Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(3, values.Length);
        Assert.All(values, v => Assert.InRange(v, 0.01, 10)); // cross-entropy of a few classes from a random start: finite, positive
        Assert.Matches(System.Text.RegularExpressions.Regex.Escape(file) + @": [\d,]+ samples/s", output); // not images
    }

    [Fact]
    public void AnInputWithAnUndeclaredDimIsRefusedByName()
    {
        var m = Acwa.Onnx.Graphs.OnnxModel.Load(ModelTestUtil.Fixture("tiny_mlp.onnx"));
        m.Graph.Input[0].Type.TensorType.Shape.Dim[1].DimParam = "features";
        var dir = Directory.CreateTempSubdirectory("acwa-bench-train-test-").FullName;
        try
        {
            var path = Path.Combine(dir, "free_features.onnx");
            Acwa.Onnx.Graphs.OnnxModel.Save(m, path);
            var (code, output, _) = CliRun.Invoke("bench", "train", "--model", path, "--windows", "1", "--steps", "1", "--warmup", "1", "--no-epoch");
            Assert.NotEqual(0, code);
            Assert.Contains("free_features.onnx", output);
            Assert.Contains("input 'x' must be declared as [N, ...] with every dim after the batch fixed", output);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
