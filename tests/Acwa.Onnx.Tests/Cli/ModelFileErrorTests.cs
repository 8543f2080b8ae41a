using Acwa.Cli.Commands;
using Acwa.Cli.Training;
using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Tests.Training.Compiler;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Training.Runs;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>Models the compiler or ONNX Runtime refuses: the one-line error names the model file as well as the node.</summary>
public sealed class ModelFileErrorTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Save(string name, Action<Acwa.Onnx.Graphs.Proto.ModelProto> edit)
    {
        var model = TestModels.Mlp([4, 3], 1);
        edit(model);
        var path = _dir.File(name);
        OnnxModel.Save(model, path);
        return path;
    }

    [Fact]
    public void ArtifactsErrorsFromTheCompilerNameTheModelFile()
    {
        var unknownOp = Save("unknown-op.onnx", m => m.Graph.Node[0].OpType = "Fooo");
        var err = new StringWriter();
        Assert.Equal(1, ArtifactsCommand.Execute(new ArtifactsCommandOptions(unknownOp, _dir.File("a")), TextWriter.Null, err));
        Assert.Contains(unknownOp, err.ToString());
        Assert.Contains("Fooo", err.ToString());

        // An op without a gradient rule between a parameter and the loss.
        var noGrad = Save("no-grad.onnx", m =>
        {
            var add = m.Graph.Node.Single(n => n.OpType == "Add");
            m.Graph.Node.Add(new Acwa.Onnx.Graphs.Proto.NodeProto { OpType = "Atan", Input = { add.Output[0] }, Output = { "atan_out" } });
            m.Graph.Output[0].Name = "atan_out";
        });
        err = new StringWriter();
        Assert.Equal(1, ArtifactsCommand.Execute(new ArtifactsCommandOptions(noGrad, _dir.File("b")), TextWriter.Null, err));
        Assert.Contains(noGrad, err.ToString());
        Assert.Contains("'Atan'", err.ToString());
        Assert.False(Directory.Exists(_dir.File("b")), "a refused model must not leave an artifact folder");
    }

    [Theory]
    [InlineData(0, -1f, "accumulation steps")]
    [InlineData(1, 0f, "clip norm")]
    public void OptionErrorsDoNotBlameTheModelFile(int accumulate, float clip, string expected)
    {
        var model = Save("fine.onnx", _ => { });
        var err = new StringWriter();
        var o = new ArtifactsCommandOptions(model, _dir.File("o"), AccumulationSteps: accumulate, ClipNorm: clip);
        Assert.Equal(1, ArtifactsCommand.Execute(o, TextWriter.Null, err));
        Assert.StartsWith($"error: {expected}", err.ToString());
    }

    [Fact]
    public void TrainNamesTheModelFileTheCompilerRefuses()
    {
        // x [N,1,28,28] -> Flatten -> MatMul -> Atan -> logits [N,10]: Atan has no gradient rule.
        var b = new GraphBuilder("sin");
        var x = b.Input("x", ElementType.Float, null, 1, 28, 28);
        var h = b.Op("MatMul", [b.Op("Flatten", [x]), b.ConstFloat("w", [784, 10], new float[7840])]);
        b.OutputAs(b.Op("Atan", [h]), "logits", ElementType.Float, null, 10);
        var path = _dir.File("sin.onnx");
        OnnxModel.Save(OnnxModel.Create(b.Graph), path);
        var err = new StringWriter();
        var o = new TrainingRunOptions { Dataset = LearnableIdxDataset.Write(_dir), Model = path, Epochs = 1, OutDir = _dir.File("run"), Threads = 1 };
        Assert.Equal(2, TrainRun.Execute(o, new StringWriter(), err));
        Assert.Contains(path, err.ToString());
        Assert.Contains("'Atan'", err.ToString());
    }

    [Fact]
    public void ArtifactsSaysWhichOutputOfSeveralIsTrainedAsTheLogits()
    {
        // A second output (here the logits through Relu) is ignored: the first output is trained. Say so.
        var path = Save("two-outputs.onnx", m =>
        {
            m.Graph.Node.Add(new Acwa.Onnx.Graphs.Proto.NodeProto { OpType = "Relu", Input = { m.Graph.Output[0].Name }, Output = { "features" } });
            m.Graph.Output.Add(GraphBuilder.ValueInfo("features", ElementType.Float, null, 3));
        });
        var output = new StringWriter();
        Assert.Equal(0, ArtifactsCommand.Execute(new ArtifactsCommandOptions(path, _dir.File("two")), output, TextWriter.Null));
        Assert.Contains("its first, 'logits', is trained as the logits and the others ('features') are not used", output.ToString());

        var single = new StringWriter();
        Assert.Equal(0, ArtifactsCommand.Execute(new ArtifactsCommandOptions(Save("one-output.onnx", _ => { }), _dir.File("one")), single, TextWriter.Null));
        Assert.DoesNotContain("note:", single.ToString());
    }

    [Fact]
    public void EvaluatorNamesTheModelFileOrtCannotLoad()
    {
        var unknownOp = Save("unknown-op.onnx", m => m.Graph.Node[0].OpType = "Fooo");
        var e = Assert.Throws<InvalidDataException>(() => Evaluator.Load(unknownOp, new EvaluatorOptions { IntraOpThreads = 1 }));
        Assert.Contains(unknownOp, e.Message);
        Assert.Contains("Fooo", e.Message);
    }
}
