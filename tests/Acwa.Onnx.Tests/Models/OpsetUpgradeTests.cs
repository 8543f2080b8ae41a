using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Import;
using Acwa.Onnx.Graphs.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Tests.Models;

public class OpsetUpgradeTests
{
    private static readonly float[] X = Enumerable.Range(0, 48).Select(i => (float)Math.Cos(i * 0.7) * 2).ToArray();

    private static Dictionary<string, float[]> RunAll(ModelProto model, params NamedOnnxValue[] inputs)
    {
        using var session = new InferenceSession(OnnxModel.ToBytes(model));
        using var results = session.Run(inputs);
        return results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
    }

    private static NamedOnnxValue XValue() => NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(X, [2, 6, 4]));

    /// <summary>An opset-13 graph with Reduce* axes attributes and Splits with and without the split input.</summary>
    private static ModelProto Opset13Model()
    {
        var b = new GraphBuilder("reduce_split");
        b.Input("x", ElementType.Float, 2, 6, 4);
        void Out(string op, string name, AttributeProto[] attrs, params long[] dims)
        {
            b.OpNamed(op, ["x"], name, attrs);
            b.Output(name, ElementType.Float, dims.Select(d => (long?)d).ToArray());
        }
        Out("ReduceMean", "mean", [Attr.Ints("axes", 2), Attr.Int("keepdims", 1)], 2, 6, 1);
        Out("ReduceMax", "max", [Attr.Ints("axes", 1, 2), Attr.Int("keepdims", 0)], 2);
        Out("ReduceL2", "l2", [Attr.Ints("axes", -1), Attr.Int("keepdims", 0)], 2, 6);
        Out("ReduceSumSquare", "sumsq", [Attr.Ints("axes", 0)], 1, 6, 4);
        Out("ReduceLogSumExp", "lse_all", [], 1, 1, 1);
        var split = new NodeProto { OpType = "Split", Name = "split_equal", Input = { "x" }, Output = { "s0", "s1", "s2" }, Attribute = { Attr.Int("axis", 1) } };
        b.Graph.Node.Add(split);
        foreach (var s in new[] { "s0", "s1", "s2" }) b.Output(s, ElementType.Float, 2, 2, 4);
        var sizes = b.ConstInt64("sizes", 1, 5);
        var split2 = new NodeProto { OpType = "Split", Name = "split_sized", Input = { "x", sizes }, Output = { "t0", "t1" }, Attribute = { Attr.Int("axis", 1) } };
        b.Graph.Node.Add(split2);
        b.Output("t0", ElementType.Float, 2, 1, 4);
        b.Output("t1", ElementType.Float, 2, 5, 4);
        return OnnxModel.Create(b.Graph, opset: 13);
    }

    [Fact]
    public void UpgradedOpset13ModelGivesTheSameOutputs()
    {
        var old = Opset13Model();
        var upgraded = OpsetUpgrade.ToOpset18(old);
        Assert.Equal(18, OpsetUpgrade.DefaultOpset(upgraded));
        Assert.Equal(13, OpsetUpgrade.DefaultOpset(old)); // input untouched
        foreach (var n in upgraded.Graph.Node.Where(n => n.OpType.StartsWith("Reduce", StringComparison.Ordinal)))
            Assert.Null(n.FindAttribute("axes"));
        Assert.Equal(2, upgraded.Graph.Node.Single(n => n.Name == "split_equal").Attribute.Count);
        Assert.Equal(3, upgraded.Graph.Node.Single(n => n.Name == "split_equal").GetInt("num_outputs", 0));
        Assert.Null(upgraded.Graph.Node.Single(n => n.Name == "split_sized").FindAttribute("num_outputs"));

        var expected = RunAll(old, XValue());
        var actual = RunAll(upgraded, XValue());
        Assert.Equal(10, expected.Count);
        foreach (var (name, values) in expected) Assert.Equal(values, actual[name]);
        // and the values are what the ops mean, not just the same in both
        Assert.Equal(X.Take(4).Average(), expected["mean"][0], 5);
        Assert.Equal(X.Take(24).Max(), expected["max"][0]);
    }

    [Fact]
    public void ReduceInsideIfBranchesIsUpgraded()
    {
        GraphProto Branch(string op)
        {
            var g = new GraphProto { Name = op + "_branch" };
            g.Node.Add(new NodeProto { OpType = op, Name = op + "_in_branch", Input = { "x" }, Output = { op + "_y" }, Attribute = { Attr.Ints("axes", 1), Attr.Int("keepdims", 0) } });
            g.Output.Add(GraphBuilder.ValueInfo(op + "_y", ElementType.Float, 2, 4));
            return g;
        }
        var b = new GraphBuilder("if_reduce");
        b.Input("x", ElementType.Float, 2, 6, 4);
        b.Input("c", ElementType.Bool);
        b.OpNamed("If", ["c"], "y", new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Branch("ReduceMin") },
            new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Branch("ReduceProd") });
        b.Output("y", ElementType.Float, 2, 4);
        var old = OnnxModel.Create(b.Graph, opset: 15);
        var upgraded = OpsetUpgrade.ToOpset18(old);
        var thenNode = upgraded.Graph.Node.Single().Attribute.Single(a => a.Name == "then_branch").G.Node.Single();
        Assert.Null(thenNode.FindAttribute("axes"));
        Assert.Equal(2, thenNode.Input.Count);
        foreach (var c in new[] { true, false })
        {
            var cond = NamedOnnxValue.CreateFromTensor("c", new DenseTensor<bool>(new[] { c }, []));
            Assert.Equal(RunAll(old, XValue(), cond)["y"], RunAll(upgraded, XValue(), cond)["y"]);
        }
    }

    [Fact]
    public void RoiAlignKeepsItsPreOpset16Behaviour()
    {
        var b = new GraphBuilder("roi");
        b.Graph.Node.Add(new NodeProto { OpType = "RoiAlign", Name = "roi", Input = { "x", "rois", "idx" }, Output = { "y" } });
        var upgraded = OpsetUpgrade.ToOpset18(OnnxModel.Create(b.Graph, opset: 13));
        Assert.Equal("output_half_pixel", upgraded.Graph.Node.Single().GetString("coordinate_transformation_mode", ""));
        var from16 = OpsetUpgrade.ToOpset18(OnnxModel.Create(b.Graph.Clone(), opset: 16));
        Assert.Null(from16.Graph.Node.Single().FindAttribute("coordinate_transformation_mode"));
    }

    [Fact]
    public void UnsupportedModelsAreRejectedWithReasons()
    {
        var b = new GraphBuilder("g");
        b.Input("x", ElementType.Float, 2, 3);
        b.OutputAs("x", "y", ElementType.Float, 2, 3);
        var e = Assert.Throws<NotSupportedException>(() => OpsetUpgrade.ToOpset18(OnnxModel.Create(b.Graph.Clone(), opset: 12)));
        Assert.Contains("opset 12", e.Message);
        Assert.Contains("opset 19", Assert.Throws<NotSupportedException>(() => OpsetUpgrade.ToOpset18(OnnxModel.Create(b.Graph.Clone(), opset: 19))).Message);

        var bn = new GraphBuilder("bn9");
        bn.Graph.Node.Add(new NodeProto { OpType = "BatchNormalization", Name = "bn_train", Input = { "x", "s", "b", "m", "v" }, Output = { "y", "m2", "v2" } });
        var e2 = Assert.Throws<NotSupportedException>(() => OpsetUpgrade.ToOpset18(OnnxModel.Create(bn.Graph, opset: 13)));
        Assert.Contains("bn_train", e2.Message);

        var none = new ModelProto { Graph = new GraphProto { Name = "g" } };
        Assert.Throws<InvalidDataException>(() => OpsetUpgrade.ToOpset18(none));
    }

    [Fact]
    public void Opset18ModelIsReturnedUnchanged()
    {
        var model = Acwa.Onnx.Models.SmallCnn.Build();
        var upgraded = OpsetUpgrade.ToOpset18(model);
        Assert.NotSame(model, upgraded);
        Assert.Equal(OnnxModel.ToBytes(model), OnnxModel.ToBytes(upgraded));
    }
}
