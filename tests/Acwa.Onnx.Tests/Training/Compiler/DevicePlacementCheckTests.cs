using System.Diagnostics;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Models;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Tests.Autodiff;
using Xunit.Abstractions;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Training.Compiler;

/// <summary>
/// The static check for host shape arithmetic (nodes ONNX Runtime's CUDA EP leaves to the CPU EP), and the compiled
/// training and eval graphs of the built-in models: none of them may contain such nodes, for any loss, optimizer or device.
/// </summary>
public class DevicePlacementCheckTests(ITestOutputHelper output)
{
    private static readonly Lazy<ModelProto> Mlp = new(() => Build("mlp.onnx"));
    private static readonly Lazy<ModelProto> Cnn = new(() => Build("cnn.onnx"));
    private static readonly Lazy<ModelProto> ResNet20 = new(() => Build("resnet20.onnx"));
    private static readonly Lazy<ModelProto> ResNet32 = new(() => Build("resnet32.onnx"));

    private static ModelProto Build(string file) => BuiltinModels.All.Single(m => m.FileName == file).Build();

    private static ModelProto Graph(Action<GraphBuilder> body)
    {
        var b = new GraphBuilder("g");
        b.Input("x", ElementType.Float, null, 3, 4);
        body(b);
        return OnnxModel.Create(b.Graph);
    }

    [Fact]
    public void ShapeReadThroughHostInputsIsClean()
    {
        var m = Graph(b =>
        {
            var shape = b.Op("Shape", ["x"]);
            var zeros = b.Op("ConstantOfShape", [shape], Attr.Tensor("value", Tensors.Float("v", [1], [0f])));
            var e = b.Op("Expand", [b.Scalar(1f, "one"), shape]);
            var r = b.Op("Reshape", [b.Op("Add", [zeros, e]), shape]);
            var s = b.Op("Slice", ["x", b.ConstInt64("st", 0), b.Op("Shape", [r], Attr.Int("start", 0), Attr.Int("end", 1)), b.ConstInt64("ax", 0)]);
            b.OutputAs(s, "y", ElementType.Float, null, 3, 4);
        });
        Assert.Empty(DevicePlacementCheck.FindHostShapeArithmetic(m));
    }

    [Fact]
    public void CastOfSizeAndItsArithmeticAreFound()
    {
        // The pattern batch-norm code used to emit: M = Cast(Size(x)) / C; M / (M - 1); x * that.
        var m = Graph(b =>
        {
            var cast = b.OpNamed("Cast", [b.Op("Size", ["x"])], "m_int", Attr.Int("to", (long)ElementType.Float));
            var per = b.OpNamed("Div", [cast, b.Scalar(4f, "c")], "m");
            var ratio = b.OpNamed("Div", [per, b.OpNamed("Sub", [per, b.Scalar(1f, "one")], "m1")], "ratio");
            // Relu(x) is a device tensor, so the Mul stays on CUDA (a graph input alone would not keep it there).
            b.OutputAs(b.OpNamed("Mul", [b.Op("Relu", ["x"]), ratio], "scaled"), "y", ElementType.Float, null, 3, 4);
        });
        var found = DevicePlacementCheck.FindHostShapeArithmetic(m);
        Assert.Equal(["Cast", "Div", "Sub", "Div", "Mul"], found.Select(f => f.OpType));
        Assert.Equal([true, true, true, true, false], found.Select(f => f.PlacedOnCpu));
        var mul = found[^1];
        Assert.Equal(1, mul.InputIndex);
        Assert.Equal("ratio", mul.InputName);
    }

    [Fact]
    public void ConcatOfShapeSlicesIsFoundButItsHostConsumerIsNot()
    {
        // GradEmitter.ShapeVec's old form for several batch-dependent dims: Concat(Slice(Shape(x)), c) -> ConstantOfShape.
        var m = Graph(b =>
        {
            var shape = b.Op("Shape", ["x"]);
            var head = b.Op("Slice", [shape, b.ConstInt64("s", 0), b.ConstInt64("e", 1)]);
            var vec = b.Op("Concat", [head, b.ConstInt64("rest", 4)], Attr.Int("axis", 0));
            var zeros = b.Op("ConstantOfShape", [vec], Attr.Tensor("value", Tensors.Float("v", [1], [0f])));
            b.OutputAs(b.Op("Add", ["x", zeros]), "y", ElementType.Float, null, 3, 4);
        });
        var found = DevicePlacementCheck.FindHostShapeArithmetic(m);
        Assert.Equal(["Slice", "Concat"], found.Select(f => f.OpType));
        Assert.All(found, f => Assert.True(f.PlacedOnCpu));
        Assert.Equal(0, found[0].InputIndex); // Slice's data input, not its starts/ends
    }

    /// <summary>x [N, 2, 3] -> flatten (torch-export style with <paramref name="torchFlatten"/>, else Flatten) -> MatMul [6, 3].</summary>
    private static ModelProto FlattenModel(bool torchFlatten, bool divideBySize = false)
    {
        var b = new GraphBuilder("fwd");
        var x = b.Input("x", ElementType.Float, null, 2, 3);
        string flat;
        if (torchFlatten)
        {
            // x.view(x.size(0), -1) as torch.onnx.export writes it with a dynamic batch.
            var n = b.Op("Unsqueeze", [b.Op("Gather", [b.Op("Shape", [x]), b.Initializer(Tensors.Int64("zero", [], [0]))], Attr.Int("axis", 0)), b.ConstInt64("ax", 0)]);
            flat = b.Op("Reshape", [x, b.Op("Concat", [n, b.ConstInt64("minus1", -1)], Attr.Int("axis", 0))]);
        }
        else flat = b.Op("Flatten", [x], Attr.Int("axis", 1));
        // Host arithmetic that cannot be folded: x / Cast(Size(x)).
        if (divideBySize) flat = b.Op("Div", [flat, b.Op("Cast", [b.Op("Size", [x])], Attr.Int("to", (long)ElementType.Float))]);
        var w = b.ConstFloat("fc.weight", [6, 3], Enumerable.Range(0, 18).Select(i => (i % 7 - 3) * 0.05f).ToArray());
        b.OutputAs(b.Op("MatMul", [flat, w]), "logits", ElementType.Float, null, 3);
        return OnnxModel.Create(b.Graph);
    }

    [Theory]
    [InlineData(1L)] // cls.expand(N, -1, -1): [1, 1, 3] -> [N, 1, 3], one Add with the device zeros
    [InlineData(4L)] // cls.expand(N, 4, -1): [1, 1, 3] -> [N, 4, 3], the Add then a constant-shape Expand
    public void BatchDependentExpandAndChunkBoundsAreFoldedWithIdenticalResults(long rows)
    {
        // x [N, 3, 4]; a token tensor expanded to the batch with a shape computed from Shape(x) (as torch.onnx exports
        // expand), and a Slice whose end is computed from a static dim (as torch exports chunk): both host arithmetic.
        var b = new GraphBuilder("g");
        b.Input("x", ElementType.Float, null, 3, 4);
        var cls = b.ConstFloat("cls", [1, 1, 3], 0.5f, -1f, 2f);
        var n = b.Op("Unsqueeze", [b.Op("Gather", [b.Op("Shape", ["x"]), b.Initializer(Tensors.Int64("zero", [], [0]))], Attr.Int("axis", 0)), b.ConstInt64("ax", 0)]);
        var shape = b.Op("Concat", [n, b.ConstInt64("rows", rows), b.ConstInt64("cols", 3)], Attr.Int("axis", 0));
        var tokens = b.Op("Expand", [cls, shape]);                                                   // [N, rows, 3]
        var width = b.Op("Gather", [b.Op("Shape", ["x"]), b.Initializer(Tensors.Int64("two", [], [2]))], Attr.Int("axis", 0)); // 4
        var half = b.Op("Unsqueeze", [b.Op("Div", [width, b.Initializer(Tensors.Int64("d", [], [2]))]), b.ConstInt64("ax2", 0)]);
        var left = b.Op("Slice", ["x", b.ConstInt64("s0", 0), half, b.ConstInt64("a2", 2)]);            // x[:, :, :2]
        var mixed = b.Op("MatMul", [tokens, left]);                                                  // [N, rows, 2]
        b.Output(mixed, ElementType.Float, null, rows, 2);
        var model = OnnxModel.Create(b.Graph);
        Assert.NotEmpty(DevicePlacementCheck.FindHostShapeArithmetic(model));

        var shapes = Acwa.Onnx.Autodiff.ShapeProbe.Infer(model, "x", [-1, 3, 4]);
        var folded = model.Clone();
        Assert.Equal(2, ForwardShapeFolding.FoldHostShapeArithmetic(folded.Graph, shapes, "x", []));
        Assert.Empty(DevicePlacementCheck.FindHostShapeArithmetic(folded));
        Assert.DoesNotContain(folded.Graph.Node, m => m.OpType is "Shape" or "Gather" or "Div");
        Assert.Equal(rows > 1, folded.Graph.Node.Any(m => m.OpType == "Expand"));
        foreach (int batch in new[] { 1, 5 })
        {
            var x = Enumerable.Range(0, batch * 12).Select(i => MathF.Sin(0.7f * i)).ToArray();
            float[] Run(ModelProto m)
            {
                using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(OnnxModel.ToBytes(m));
                using var xv = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(x, [batch, 3, 4]);
                using var r = session.Run(new Microsoft.ML.OnnxRuntime.RunOptions(), ["x"], [xv], [mixed]);
                return r[0].GetTensorDataAsSpan<float>().ToArray();
            }
            Assert.Equal(Run(model), Run(folded));
        }
    }

    [Fact]
    public void TorchStyleFlattenIsFoldedToAConstantShapeWithTheSameStep()
    {
        var torch = TrainingArtifacts.Compile(FlattenModel(torchFlatten: true), new ArtifactOptions { Device = Device.Cuda(), Optimizer = OptimizerKind.Sgd, LearningRate = 0.5f });
        var plain = TrainingArtifacts.Compile(FlattenModel(torchFlatten: false), new ArtifactOptions { Device = Device.Cuda(), Optimizer = OptimizerKind.Sgd, LearningRate = 0.5f });
        foreach (var m in new[] { torch.TrainingModel, torch.EvalModel })
        {
            Assert.Empty(DevicePlacementCheck.FindHostShapeArithmetic(m));
            Assert.DoesNotContain(m.Graph.Node, n => n.OpType is "Shape" or "Concat" || n.Input.Contains("zero") || n.Input.Contains("minus1"));
            Assert.DoesNotContain(m.Graph.Initializer, t => t.Name is "zero" or "minus1");
        }
        var x = Enumerable.Range(0, 5 * 6).Select(i => MathF.Sin(i)).ToArray();
        long[] y = [0, 2, 1, 1, 0];
        using var a = new HostStepLoop(torch);
        using var b = new HostStepLoop(plain);
        for (int step = 0; step < 2; step++) Assert.Equal(b.Step(x, y), a.Step(x, y));
        Assert.Equal(b.State["fc.weight"].Data, a.State["fc.weight"].Data);
    }

    [Fact]
    public void CudaCompileRejectsHostShapeArithmeticInTheForwardModel()
    {
        var model = FlattenModel(torchFlatten: false, divideBySize: true);
        TrainingArtifacts.Compile(model, new ArtifactOptions { Device = Device.Cpu });
        var e = Assert.Throws<NotSupportedException>(() => TrainingArtifacts.Compile(model, new ArtifactOptions { Device = Device.Cuda() }));
        Assert.Contains("training graph", e.Message);
        Assert.Contains("(Cast)", e.Message);
        Assert.Contains("placed on the CPU EP", e.Message);

        // The CLI reports it as an error line naming the nodes (exit 1), not as an unhandled exception.
        var dir = Directory.CreateTempSubdirectory("acwa-placement-").FullName;
        try
        {
            var path = Path.Combine(dir, "flatten.onnx");
            File.WriteAllBytes(path, OnnxModel.ToBytes(model));
            var (rc, _, err) = Acwa.Onnx.Tests.Cli.CliRun.Invoke("artifacts", "--model", path, "--out", Path.Combine(dir, "out"), "--device", "cuda");
            Assert.Equal(1, rc);
            Assert.StartsWith($"error: {path}: the training graph compiled for device 'cuda' does shape arithmetic on the host", err);
            Assert.False(Directory.Exists(Path.Combine(dir, "out")) && Directory.EnumerateFiles(Path.Combine(dir, "out")).Any(), "nothing is written for a rejected model");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    public static TheoryData<string, LossKind, OptimizerKind, string> Matrix()
    {
        var d = new TheoryData<string, LossKind, OptimizerKind, string>();
        var losses = Enum.GetValues<LossKind>();
        var optimizers = Enum.GetValues<OptimizerKind>();
        // cnn: every loss x optimizer x device; resnet20: every loss (optimizers rotated) on both devices.
        foreach (var loss in losses)
            foreach (var opt in optimizers)
                foreach (var device in new[] { "cuda", "cpu" })
                    d.Add("cnn.onnx", loss, opt, device);
        for (int i = 0; i < losses.Length; i++)
            foreach (var device in new[] { "cuda", "cpu" })
                d.Add("resnet20.onnx", losses[i], optimizers[i % optimizers.Length], device);
        d.Add("mlp.onnx", LossKind.Focal, OptimizerKind.Adam, "cuda");
        d.Add("resnet32.onnx", LossKind.Ldam, OptimizerKind.Sgd, "cuda");
        return d;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void BuiltinModelGraphsHaveNoHostShapeArithmetic(string model, LossKind loss, OptimizerKind optimizer, string device)
    {
        var forward = model switch
        {
            "mlp.onnx" => Mlp.Value,
            "cnn.onnx" => Cnn.Value,
            "resnet20.onnx" => ResNet20.Value,
            "resnet32.onnx" => ResNet32.Value,
            _ => throw new ArgumentOutOfRangeException(nameof(model), model, "unknown built-in model"),
        };
        var options = new ArtifactOptions
        {
            Loss = loss,
            Optimizer = optimizer,
            Momentum = optimizer == OptimizerKind.Sgd ? 0.9f : 0f,
            // cpu: the compile does not run the check itself, so it is run here; cuda: Compile would throw.
            Device = Device.Parse(device),
        };
        var sw = Stopwatch.StartNew();
        var set = TrainingArtifacts.Compile(forward, options);
        output.WriteLine($"{model} {loss} {optimizer} {device}: compiled in {sw.ElapsedMilliseconds} ms");
        Assert.Empty(DevicePlacementCheck.FindHostShapeArithmetic(set.TrainingModel).Select(f => f.ToString()));
        Assert.Empty(DevicePlacementCheck.FindHostShapeArithmetic(set.EvalModel).Select(f => f.ToString()));
        // Batch-dependent counts are still there: BN's 1/M summed on the device from Where(true, 1, slice), focal's N from
        // ConstantOfShape(Shape(labels)). No Shape reads a computed value, which ORT's transpose optimizer could turn into
        // a host Gather (Shape(Transpose(v)) -> Gather(Shape(v), perm)); a graph input it cannot.
        if (model.StartsWith("resnet", StringComparison.Ordinal))
            Assert.Contains(set.TrainingModel.Graph.Node, n => n.OpType == "Where" && n.Input[0].StartsWith("ad_true", StringComparison.Ordinal));
        if (loss == LossKind.Focal)
            Assert.Contains(set.TrainingModel.Graph.Node, n => n.OpType == "ConstantOfShape");
        var graphInputs = set.TrainingModel.Graph.Input.Select(i => i.Name).ToHashSet();
        Assert.DoesNotContain(set.TrainingModel.Graph.Node, n => n.OpType == "Size" || (n.OpType == "Shape" && !graphInputs.Contains(n.Input[0])));
    }

    [Theory]
    [InlineData(new long[] { 0, 0 }, new long[] { 5, 6 }, new long[] { 2, 2 })]      // option-A shortcut: x[:, ::2, ::2]
    [InlineData(new long[] { 1 }, new long[] { 6 }, new long[] { 2 })]               // runs past the end: cropped
    [InlineData(new long[] { 1 }, new long[] { 6 }, new long[] { 4 })]
    [InlineData(new long[] { 5 }, new long[] { -100 }, new long[] { -3 })]           // negative step: reversed, then spread
    public void StridedSliceGradientIsExactAndHasNoHostArithmetic(long[] starts, long[] ends, long[] steps)
    {
        long[] axes = starts.Length == 1 ? [2] : [1, 2];
        // CPU spreads the last axis with a 0/1 MatMul, CUDA with Reshape/Pad/Reshape: both exact.
        foreach (var device in new[] { "cpu", "cuda" })
        {
            var r = GradCheck.Check(ElementType.Double, [new("x", [2, 5, 6])], g =>
                g.Op("Slice", ["x", g.ConstInt64("st", starts), g.ConstInt64("en", ends), g.ConstInt64("ax", axes), g.ConstInt64("sp", steps)]),
                options: new Acwa.Onnx.Autodiff.GradientOptions { Device = Device.Parse(device) });
            Assert.Empty(DevicePlacementCheck.FindHostShapeArithmetic(r.GradModel));
            Assert.DoesNotContain(r.GradModel.Graph.Node, n => n.OpType == "ScatterElements");
            Assert.Equal(device == "cpu", r.GradModel.Graph.Node.Any(n => n.OpType == "MatMul"));
        }
    }

    [Theory]
    [InlineData("ReduceMean")]
    [InlineData("MaxPool")]
    public void BatchDependentGradientsHaveNoHostArithmetic(string op)
    {
        var r = op == "ReduceMean"
            ? GradCheck.Check(ElementType.Double, [new("x", [3, 2, 4])], g => g.Op("ReduceMean", ["x", g.ConstInt64("axes", 0, 2)], Attr.Int("keepdims", 0)))
            : GradCheck.Check(ElementType.Double, [new("x", [2, 1, 4, 4])], g => g.Op("MaxPool", ["x"], Attr.Ints("kernel_shape", 2, 2), Attr.Ints("strides", 2, 2)), samples: 10);
        Assert.Empty(DevicePlacementCheck.FindHostShapeArithmetic(r.GradModel));
    }
}
