using Acwa.Onnx.Graphs;
using Acwa.Onnx.Models;

namespace Acwa.Onnx.Tests.Models;

public class BuiltinModelsTests
{
    // models/ at the repository root holds the output of BuiltinModels.WriteAll; regenerating must give the same bytes.
    // To refresh the committed files after a deliberate change, run this test with ACWA_WRITE_MODELS=1.
    [Fact]
    public void CommittedModelsAreByteIdenticalToRegeneratedOnes()
    {
        var committed = Path.Combine(ModelTestUtil.RepoRoot(), "models");
        if (Environment.GetEnvironmentVariable("ACWA_WRITE_MODELS") == "1") BuiltinModels.WriteAll(committed);
        var dir = Directory.CreateTempSubdirectory("acwa-models").FullName;
        try
        {
            var written = BuiltinModels.WriteAll(dir);
            Assert.Equal(["mlp.onnx", "cnn.onnx", "resnet20.onnx", "resnet32.onnx"], written.Select(Path.GetFileName));
            foreach (var path in written)
            {
                var name = Path.GetFileName(path);
                var reference = Path.Combine(committed, name);
                Assert.True(File.Exists(reference), $"models/{name} is missing; run this test with ACWA_WRITE_MODELS=1");
                Assert.True(File.ReadAllBytes(reference).AsSpan().SequenceEqual(File.ReadAllBytes(path)),
                    $"models/{name} differs from what BuiltinModels.WriteAll produces now");
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void CommittedModelsLoadAndHaveDocumentedParameterCounts()
    {
        var dir = Path.Combine(ModelTestUtil.RepoRoot(), "models");
        Assert.Equal(203_530, ModelParameters.Count(OnnxModel.Load(Path.Combine(dir, "mlp.onnx"))));
        Assert.Equal(421_642, ModelParameters.Count(OnnxModel.Load(Path.Combine(dir, "cnn.onnx"))));
        Assert.Equal(269_722, ModelParameters.Count(OnnxModel.Load(Path.Combine(dir, "resnet20.onnx"))));
        Assert.Equal(464_154, ModelParameters.Count(OnnxModel.Load(Path.Combine(dir, "resnet32.onnx"))));
    }
}
