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

    // models/artifacts/NAME/ holds BuiltinModels.WriteArtifacts' output (default training artifacts); regenerating must give the same bytes.
    [Fact]
    public void CommittedTrainingArtifactsAreByteIdenticalToRegeneratedOnes()
    {
        var committed = Path.Combine(ModelTestUtil.RepoRoot(), "models", "artifacts");
        if (Environment.GetEnvironmentVariable("ACWA_WRITE_MODELS") == "1") BuiltinModels.WriteArtifacts(committed);
        var dir = Directory.CreateTempSubdirectory("acwa-artifacts").FullName;
        try
        {
            var written = BuiltinModels.WriteArtifacts(dir);
            Assert.Equal(BuiltinModels.WithCommittedArtifacts, written.Select(Path.GetFileName));
            foreach (var folder in written)
            {
                var name = Path.GetFileName(folder);
                var files = Directory.GetFiles(folder).Select(f => Path.GetFileName(f)).Order().ToArray();
                Assert.Equal(["checkpoint.acwa", "eval_model.onnx", "inference_model.onnx", "manifest.json", "training_model.onnx"], files);
                foreach (var f in files)
                {
                    var reference = Path.Combine(committed, name, f);
                    Assert.True(File.Exists(reference), $"models/artifacts/{name}/{f} is missing; run this test with ACWA_WRITE_MODELS=1");
                    Assert.True(File.ReadAllBytes(reference).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(folder, f))),
                        $"models/artifacts/{name}/{f} differs from what BuiltinModels.WriteArtifacts produces now");
                }
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void CommittedArtifactsTrainInTheRuntime()
    {
        // A user can train from the committed folder without generating anything.
        var dir = Path.Combine(ModelTestUtil.RepoRoot(), "models", "artifacts", "mlp");
        using var runner = new Acwa.Onnx.Training.Runtime.StepRunner(dir);
        var rng = new Random(5);
        var x = new float[32 * 784];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
        var y = Enumerable.Range(0, 32).Select(i => (long)(i % 10)).ToArray();
        float first = runner.TrainStep(x, y, 32).Loss, last = first;
        for (int i = 0; i < 30; i++) last = runner.TrainStep(x, y, 32).Loss;
        Assert.True(last < first * 0.5, $"loss {first} -> {last}");
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
