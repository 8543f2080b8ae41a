using System.Text.Json.Nodes;
using Acwa.Onnx.IO;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Runtime;
using Acwa.Onnx.Weighting;
using Acwa.Onnx.Tests.Training.Runtime;

namespace Acwa.Onnx.Tests.Training;

/// <summary>
/// Trainer checkpoints whose metadata was edited (checksum rewritten): a value of the wrong JSON kind is an
/// InvalidDataException naming the file and the field, and the runner's state is left as it was.
/// </summary>
public sealed class TrainerResumeMetaTests
{
    private const int H = 4, W = 4;

    private static (StepRunner, Trainer) Make(string dir, TrainerOptions options)
    {
        var train = TrainerTests.Images(1, 60, 25, 10);
        var runner = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var p = PolicyFactory.Create("acwa", train.ClassCounts().Select(c => (long)c).ToArray(), options.Epochs);
        return (runner, new Trainer(runner, train, TrainerTests.Images(2, 15, 8, 6), p, options));
    }

    [Theory]
    [InlineData("epochs", "\"two\"", "trainer.epochs")]
    [InlineData("completed_epochs", "\"one\"", "trainer.completed_epochs")]
    [InlineData("global_step", "[1]", "trainer.global_step")]
    [InlineData("format", "7", "trainer.format")]
    [InlineData("schedule", "{}", "trainer.schedule")]
    public void WrongKindOfValueNamesTheField(string field, string json, string expected)
    {
        var dir = TestArtifacts.Create(H * W, 3);
        var ckpt = Path.Combine(dir, "c.acwa");
        var options = new TrainerOptions { Epochs = 2, BatchSize = 16, CheckpointPath = ckpt };
        var (r1, t1) = Make(dir, options with { Epochs = 1 });
        using (r1) t1.Run();
        var (tensors, meta) = TensorFile.Load(ckpt);
        var trainer = (JsonObject)meta["extra"]!["trainer"]!;
        trainer["epochs"] = 2; // so that only the edited field is at fault
        trainer[field] = JsonNode.Parse(json);
        TensorFile.Save(ckpt, tensors, meta);

        var (r2, t2) = Make(dir, options);
        using (r2)
        {
            var before = r2.GetState();
            var e = Assert.Throws<InvalidDataException>(() => t2.Resume(ckpt));
            Assert.Contains(ckpt, e.Message);
            Assert.Contains(expected, e.Message);
            Assert.Equal(0, r2.Step);
            Assert.Equal(before[0].Data, r2.GetState()[0].Data);
        }
    }
}
