using Acwa.Cli.Commands;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Google.Protobuf;

namespace Acwa.Onnx.Tests.Training.Compiler;

/// <summary>
/// Forward models and output folders the compiler must refuse with a message naming the file, input, shape or initializer
/// (not an ONNX Runtime stack trace or a raw IOException), and initializers it must not silently turn into parameters.
/// </summary>
public sealed class ModelInputErrorTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string SaveMlp(string name = "mlp.onnx")
    {
        var path = _dir.File(name);
        OnnxModel.Save(TestModels.Mlp([4, 3], 1), path);
        return path;
    }

    [Fact]
    public void ArtifactsOutThatIsAFileOrUnderAFileIsAnErrorNamingTheFolder()
    {
        var model = SaveMlp();
        var file = _dir.File("not-a-folder");
        File.WriteAllText(file, "x");
        foreach (var outDir in new[] { file, Path.Combine(file, "sub") })
        {
            var err = new StringWriter();
            int rc = ArtifactsCommand.Execute(new ArtifactsCommandOptions(model, outDir), TextWriter.Null, err);
            Assert.Equal(1, rc);
            Assert.Contains(outDir, err.ToString());
            Assert.DoesNotContain("   at ", err.ToString());
        }
        Assert.Equal("x", File.ReadAllText(file));
    }

    [Fact]
    public void InputShapeTheModelCannotRunIsAnArgumentErrorNamingInputAndShape()
    {
        var model = TestModels.Mlp([4, 3], 1);
        var e = Assert.Throws<ArgumentException>(() => TrainingArtifacts.Compile(model, new ArtifactOptions { InputShape = [5] }));
        Assert.Contains("'x'", e.Message);
        Assert.Contains("[-1,5]", e.Message);

        var err = new StringWriter();
        int rc = ArtifactsCommand.Execute(new ArtifactsCommandOptions(SaveMlp(), _dir.File("out"), InputShape: [5]), TextWriter.Null, err);
        Assert.Equal(1, rc);
        Assert.Contains("[-1,5]", err.ToString());
    }

    /// <summary>x [N,4] -> MatMul W -> Add B -> logits; plus an fp32 initializer "unused" that no node reads.</summary>
    private static ModelProto WithUnusedInitializer()
    {
        var model = TestModels.Mlp([4, 3], 1);
        model.Graph.Initializer.Add(Tensors.Float("unused", [5], new float[5]));
        return model;
    }

    [Fact]
    public void InitializerThatNoNodeReadsIsNotTrained()
    {
        var set = TrainingArtifacts.Compile(WithUnusedInitializer(), new ArtifactOptions());
        var parameters = set.Manifest.State.Where(s => s.Kind == StateKind.Parameter).Select(s => s.Name).ToList();
        Assert.Equal(["fc0.weight", "fc0.bias"], parameters);
        // The fused optimizer state covers the 15 real parameter values only.
        Assert.All(set.Manifest.State.Where(s => s.Kind == StateKind.Optimizer), s => Assert.Equal([15L], s.Shape));

        var e = Assert.Throws<ArgumentException>(() => TrainingArtifacts.Compile(WithUnusedInitializer(), new ArtifactOptions { Trainable = ["unused"] }));
        Assert.Contains("'unused'", e.Message);
        Assert.Contains("not read by any node", e.Message);
    }

    [Fact]
    public void IdentityOfAnInitializerTrainsTheCopyNotTheOrphanedOriginal()
    {
        // Torch's deduplication: the bias reaches Add through an Identity. InitializerUntying gives the Identity's output
        // its own initializer; the original then has no reader and must not become a second, gradient-free parameter.
        var model = TestModels.Mlp([4, 3], 1);
        var g = model.Graph;
        var add = g.Node.Single(n => n.OpType == "Add");
        int slot = add.Input.IndexOf("fc0.bias");
        g.Node.Insert(0, new NodeProto { OpType = "Identity", Input = { "fc0.bias" }, Output = { "bias_copy" } });
        add.Input[slot] = "bias_copy";
        var set = TrainingArtifacts.Compile(model, new ArtifactOptions());
        var parameters = set.Manifest.State.Where(s => s.Kind == StateKind.Parameter).Select(s => s.Name).ToList();
        Assert.Equal(["fc0.weight", "bias_copy"], parameters);
    }

    [Fact]
    public void RewriteThatFailsHalfWayLeavesNoStaleManifest()
    {
        var outDir = _dir.File("art");
        TrainingArtifacts.Generate(TestModels.Mlp([4, 3], 1), new ArtifactOptions(), outDir);
        // The second write fails at eval_model.onnx (a folder now), after training_model.onnx was replaced by the SGD graph.
        var eval = Path.Combine(outDir, "eval_model.onnx");
        File.Delete(eval);
        Directory.CreateDirectory(eval);
        var e = Assert.Throws<IOException>(() => TrainingArtifacts.Generate(TestModels.Mlp([4, 3], 1), new ArtifactOptions { Optimizer = OptimizerKind.Sgd }, outDir));
        Assert.Contains("eval_model.onnx", e.Message);
        // The old (Adam) manifest must not sit beside the new (SGD) training graph.
        Assert.False(File.Exists(Path.Combine(outDir, "manifest.json")), "a stale manifest.json describes the old artifact set");
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp-*"));
    }

    private static ModelProto WithExternalWeight(string offset, string? length)
    {
        var model = TestModels.Mlp([4, 3], 1);
        var w = model.Graph.Initializer.Single(t => t.Name == "fc0.weight");
        w.RawData = ByteString.Empty;
        w.FloatData.Clear();
        w.DataLocation = TensorProto.Types.DataLocation.External;
        w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });
        w.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset });
        if (length is not null) w.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length });
        return model;
    }

    [Theory]
    [InlineData("abc", "48", "offset 'abc'")]
    [InlineData("0", "-4", "length '-4'")]
    [InlineData("100", null, "starts at byte 100")]
    [InlineData("0", "4000", "wants bytes 0..4000")]
    public void BadExternalDataFieldsNameTheModelAndTensor(string offset, string? length, string expected)
    {
        File.WriteAllBytes(_dir.File("weights.bin"), new byte[48]);
        var path = _dir.File($"ext-{offset}-{length}.onnx");
        File.WriteAllBytes(path, WithExternalWeight(offset, length).ToByteArray());
        var e = Assert.Throws<InvalidDataException>(() => OnnxModel.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("'fc0.weight'", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ModelOrtCannotLoadIsAnInvalidDataError()
    {
        // A node whose input nothing produces: ORT refuses the graph when the shape probe loads it.
        var model = TestModels.Mlp([4, 3], 1);
        model.Graph.Node[0].Input[0] = "missing_value";
        var e = Assert.Throws<InvalidDataException>(() => TrainingArtifacts.Compile(model, new ArtifactOptions()));
        Assert.Contains("ONNX Runtime cannot load", e.Message);
    }
}
