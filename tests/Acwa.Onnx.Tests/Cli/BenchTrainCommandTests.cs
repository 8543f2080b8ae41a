using Acwa.Onnx.Tests.Models;

namespace Acwa.Onnx.Tests.Cli;

/// <summary><c>acwa bench train</c> on forward models given as files (input and classes read from the model).</summary>
public class BenchTrainCommandTests
{
    [Fact]
    public void ExportedModelFilesAreCheckedAndTimed()
    {
        var vit = ModelTestUtil.Fixture("tiny_vit.onnx");
        var (code, output, err) = CliRun.Invoke("bench", "train", "--model", vit, "--batch", "16", "--warmup", "1", "--steps", "2", "--windows", "1", "--check-steps", "2", "--no-epoch");
        Assert.True(code == 0, err + output);
        Assert.Contains("tiny_vit.onnx: CPU one-ulp sensitivity over 2 Adam steps", output);
        Assert.Matches(@"tiny_vit\.onnx: [\d,]+ images/s", output);
    }

    [Fact]
    public void AModelWithoutAnImageInputIsRefusedByName()
    {
        var mlp = ModelTestUtil.Fixture("tiny_mlp.onnx"); // input [N, 20]
        var (code, output, _) = CliRun.Invoke("bench", "train", "--model", mlp, "--windows", "1", "--steps", "1", "--warmup", "1", "--no-epoch");
        Assert.NotEqual(0, code);
        Assert.Contains("must be declared as [N, C, H, W]", output);
    }
}
