using Acwa.Cli;
using Acwa.Cli.Commands;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Training;
using Acwa.Onnx.Tests.Training.Compiler;

namespace Acwa.Onnx.Tests.Cli;

public class ArtifactsCommandTests
{
    [Fact]
    public void FrozenBnKeepsTheFrozenBatchNormsRunningStatisticsOutOfTheState()
    {
        var dir = Directory.CreateTempSubdirectory("acwa-art-fbn-").FullName;
        try
        {
            var fixture = Models.ModelTestUtil.Fixture("tiny_resnet.onnx");
            Assert.Equal(0, CliApp.Run(["artifacts", "--model", fixture, "--out", Path.Combine(dir, "a"), "--frozen", "bn1.*", "--frozen-bn"]));
            var m = ArtifactManifest.Load(Path.Combine(dir, "a", "manifest.json"));
            Assert.Equal(1.0, m.Hyperparameters["frozen_batch_norm"]);
            // bn1 (scale and bias frozen) runs in inference mode: its statistics are constants; block.bn1/bn2 still train.
            Assert.DoesNotContain(m.State, s => s.Name.StartsWith("bn1.", StringComparison.Ordinal));
            Assert.Contains(m.State, s => s.Name == "block.bn1.running_mean" && s.Kind == Acwa.Onnx.Training.StateKind.Buffer);
            Assert.Equal(0, CliApp.Run(["artifacts", "--model", fixture, "--out", Path.Combine(dir, "b"), "--frozen", "bn1.*"]));
            var plain = ArtifactManifest.Load(Path.Combine(dir, "b", "manifest.json"));
            Assert.False(plain.Hyperparameters.ContainsKey("frozen_batch_norm"));
            Assert.Contains(plain.State, s => s.Name == "bn1.running_mean" && s.Kind == Acwa.Onnx.Training.StateKind.Buffer);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ArtifactsCommandWritesARunnableArtifactSet()
    {
        var dir = Directory.CreateTempSubdirectory("acwa-cli").FullName;
        try
        {
            var model = Path.Combine(dir, "mlp.onnx");
            OnnxModel.Save(TestModels.Mlp([4, 6, 3], 9), model);
            var outDir = Path.Combine(dir, "art");
            int rc = CliApp.Run(["artifacts", "--model", model, "--out", outDir, "--loss", "ldam", "--optimizer", "sgd", "--lr", "0.05",
                "--momentum", "0.9", "--nesterov", "--weight-decay", "0.0005", "--clip-norm", "5", "--frozen", "fc0.bias", "--input-shape", "4"]);
            Assert.Equal(0, rc);
            var m = ArtifactManifest.Load(Path.Combine(outDir, "manifest.json"));
            Assert.Equal("ldam", m.Loss);
            Assert.Equal("sgd", m.Optimizer);
            Assert.Equal(3, m.NumClasses);
            Assert.Equal([-1L, 4L], m.InputShape);
            Assert.DoesNotContain(m.State, s => s.Name == "fc0.bias");
            Assert.Contains(m.State, s => s.Name == "optimizer.momentum");
            var perTensorOut = Path.Combine(dir, "art-per-tensor");
            Assert.Equal(0, CliApp.Run(["artifacts", "--model", model, "--out", perTensorOut, "--optimizer", "sgd", "--momentum", "0.9", "--per-tensor-optimizer", "--input-shape", "4"]));
            var mp = ArtifactManifest.Load(Path.Combine(perTensorOut, "manifest.json"));
            Assert.Contains(mp.State, s => s.Name == "fc1.weight.momentum");
            Assert.DoesNotContain(mp.State, s => s.Name == "optimizer.momentum");
            Assert.Equal(0.05f, m.Controls.Single(c => c.Role == "lr").Default[0]);
            Assert.Equal(5f, m.Controls.Single(c => c.Role == "clip_norm").Default[0]);
            Assert.Equal(1.0, m.Hyperparameters["nesterov"]);
            foreach (var f in new[] { m.TrainingModel, m.EvalModel, m.InferenceModel, m.InitialState })
                Assert.True(File.Exists(Path.Combine(outDir, f)), f);
            using var s = new Ort(Path.Combine(outDir, m.TrainingModel));
            Assert.Contains(m.LabelName, s.InputNames);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void BadInputGivesNonZeroExitAndMessage()
    {
        var err = new StringWriter();
        int rc = ArtifactsCommand.Execute(new ArtifactsCommandOptions("/nonexistent/m.onnx", "/tmp/x"), TextWriter.Null, err);
        Assert.Equal(1, rc);
        Assert.Contains("/nonexistent/m.onnx", err.ToString());
        Assert.NotEqual(0, CliApp.Run(["artifacts", "--model", "m.onnx", "--out", "o", "--loss", "hinge"]));
        Assert.Throws<FormatException>(() => ArtifactsCommand.ParseShape("1,x,3"));
        Assert.Equal(["a", "b"], ArtifactsCommand.SplitList(" a, b,"));
    }

    [Fact]
    public void HelpListsTheOptions()
    {
        var cmd = CliApp.Build().Subcommands.Single(c => c.Name == "artifacts");
        var names = cmd.Options.Select(o => o.Name).ToHashSet();
        foreach (var n in new[] { "--model", "--out", "--trainable", "--frozen", "--frozen-bn", "--loss", "--optimizer", "--lr", "--momentum", "--weight-decay", "--nesterov", "--clip-norm", "--num-classes", "--input-shape" })
            Assert.Contains(n, names);
        Assert.Empty(CliApp.Build().Parse(["artifacts", "--model", "m.onnx", "--out", "o"]).Errors);
    }
}
