using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Tests.Training.Compiler;

namespace Acwa.Onnx.Tests.Autodiff;

/// <summary>
/// LSTM, GRU and RNN unrolled over time (<see cref="RecurrentLowering"/>): the lowered graph computes what ONNX Runtime's own
/// LSTM / GRU kernels compute (every output, for each direction, layout, bias, initial state and GRU's
/// linear_before_reset; layout 0, the only one ONNX Runtime's CPU kernels run), and its gradients (backpropagation through time by the elementwise and MatMul rules) match
/// central differences, initial states included. The PyTorch fixtures tiny_lstm / tiny_gru check whole steps.
/// </summary>
public class RecurrentLoweringTests
{
    private const long T = 3, N = 2, I = 3, H = 4;

    /// <summary>
    /// A recurrent node on x ([T, N, I], or [N, T, I] with layout 1) with weights, optional bias and optional initial
    /// states of [D, 1, H] broadcast over the batch (so they stay nonzero values that are not ConstantOfShape zeros).
    /// </summary>
    private static string[] Emit(GraphBuilder g, string op, string direction, long layout, bool bias, bool initial, long lbr, int outputs)
    {
        long d = direction == "bidirectional" ? 2 : 1, gates = op switch { "LSTM" => 4, "GRU" => 3, _ => 1 };
        var rng = new Random(3);
        float[] R(long n) => Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        string Param(string name, long[] dims) => g.Graph.Input.Any(v => v.Name == name) ? name : g.Initializer(Tensors.Float(name, dims, R(Tensors.ElementCount(dims))));
        var w = Param("w", [d, gates * H, I]);
        var r = Param("r", [d, gates * H, H]);
        var inputs = new List<string> { "x", w, r, bias ? Param("b", [d, 2 * gates * H]) : "", "" };
        if (initial)
        {
            // zeros shaped [1, N, 1] from x, so that the states take the batch size of x
            var zero = g.Op("Mul", [g.Op("Slice", ["x", g.ConstInt64("s0", 0, 0), g.ConstInt64("s1", 1, 1), g.ConstInt64("sa", layout == 0 ? 0 : 1, 2)]), g.Scalar(0f)]);
            if (layout != 0) zero = g.Op("Transpose", [zero], Attr.Ints("perm", 1, 0, 2));
            inputs.Add(g.Op("Add", [Param("h0", [d, 1, H]), zero]));
            if (op == "LSTM") inputs.Add(g.Op("Add", [Param("c0", [d, 1, H]), zero]));
        }
        var attrs = new List<AttributeProto> { Attr.Int("hidden_size", H), Attr.String("direction", direction), Attr.Int("layout", layout) };
        if (op == "GRU") attrs.Add(Attr.Int("linear_before_reset", lbr));
        if (op == "RNN" && lbr == 1) attrs.Add(Attr.Strings("activations", [.. Enumerable.Repeat("Relu", (int)d)])); // lbr 1 stands for Relu here
        return g.OpMulti(op, inputs, outputs, [.. attrs]);
    }

    public static TheoryData<string, string, long, bool, bool, long> Configurations => new()
    {
        { "LSTM", "forward", 0, true, false, 0 },
        { "LSTM", "reverse", 0, false, true, 0 },
        { "LSTM", "bidirectional", 0, true, true, 0 },
        { "GRU", "forward", 0, true, true, 1 },
        { "GRU", "forward", 0, true, true, 0 },
        { "GRU", "bidirectional", 0, true, false, 1 },
        { "GRU", "reverse", 0, false, true, 0 },
        { "GRU", "forward", 0, true, false, 0 },
        { "RNN", "forward", 0, true, true, 0 },
        { "RNN", "bidirectional", 0, false, false, 1 },
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void LoweredNodeGivesOnnxRuntimesValues(string op, string direction, long layout, bool bias, bool initial, long lbr)
    {
        int outputs = op == "LSTM" ? 3 : 2;
        long d = direction == "bidirectional" ? 2 : 1;
        var b = new GraphBuilder("rnn");
        long?[] xDims = layout == 0 ? [T, null, I] : [null, T, I];
        b.Input("x", ElementType.Float, xDims);
        var outs = Emit(b, op, direction, layout, bias, initial, lbr, outputs);
        for (int i = 0; i < outs.Length; i++) b.Graph.Output.Add(new ValueInfoProto { Name = outs[i], Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)ElementType.Float } } });
        var model = OnnxModel.Create(b.Graph);
        var lowered = model.Clone();
        var shapes = ShapeProbe.Infer(lowered, "x", xDims.Select(v => v ?? -1).ToArray());
        Assert.Equal(1, RecurrentLowering.Apply(new GraphBuilder(lowered.Graph), shapes));
        Assert.DoesNotContain(lowered.Graph.Node, n => n.OpType == op);

        var rng = new Random(5);
        var x = Enumerable.Range(0, (int)(T * N * I)).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        int[] shape = layout == 0 ? [(int)T, (int)N, (int)I] : [(int)N, (int)T, (int)I];
        using var expectedSession = new Ort(model);
        using var actualSession = new Ort(lowered);
        var expected = expectedSession.Run([Ort.F("x", x, shape)]);
        var actual = actualSession.Run([Ort.F("x", x, shape)]);
        foreach (var name in outs)
        {
            var e = (float[])expected[name];
            var a = (float[])actual[name];
            Assert.Equal(e.Length, a.Length);
            double worst = e.Zip(a, (p, q) => Math.Abs(p - q)).Max();
            Assert.True(worst < 1e-5, $"{name}: largest difference {worst:G3}");
        }
        Assert.Equal(T * d * N * H, ((float[])expected[outs[0]]).Length);
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void GradientsThroughTimeMatchFiniteDifferences(string op, string direction, long layout, bool bias, bool initial, long lbr)
    {
        long d = direction == "bidirectional" ? 2 : 1, gates = op switch { "LSTM" => 4, "GRU" => 3, _ => 1 };
        var inputs = new List<GradInput>
        {
            layout == 0 ? new("x", [T, N, I], BatchAxis: 1) : new("x", [N, T, I]),
            new("w", [d, gates * H, I]), new("r", [d, gates * H, H]),
        };
        if (bias) inputs.Add(new("b", [d, 2 * gates * H]));
        if (initial) { inputs.Add(new("h0", [d, 1, H])); if (op == "LSTM") inputs.Add(new("c0", [d, 1, H])); }
        // Y and the final state together: Y summed over time plus Y_h, so both paths are checked.
        for (int output = 0; output < (op == "LSTM" ? 3 : 2); output++)
        {
            int pick = output;
            var r = GradCheck.Check(ElementType.Float, [.. inputs],
                g => Emit(g, op, direction, layout, bias, initial, lbr, op == "LSTM" ? 3 : 2)[pick],
                forwardRewrite: (g, s) => Assert.Equal(1, RecurrentLowering.Apply(g, s)), samples: 30, step: 1e-2, tolerance: 1e-2);
            Assert.True(r.Checked >= 20, $"output {pick}: {r.Checked} elements checked");
        }
    }

    /// <summary>op, direction, bias, initial states, and Emit's lbr: GRU linear_before_reset, RNN 1 = relu, 0 = tanh.</summary>
    public static TheoryData<string, string, bool, bool, long> FusedConfigurations => new()
    {
        { "LSTM", "forward", true, false, 0 },
        { "LSTM", "reverse", false, true, 0 },
        { "LSTM", "bidirectional", true, true, 0 },
        { "LSTM", "bidirectional", false, false, 0 },
        { "GRU", "forward", true, false, 1 },
        { "GRU", "reverse", false, true, 1 },
        { "GRU", "bidirectional", true, true, 1 },
        { "GRU", "bidirectional", false, false, 1 },
        { "GRU", "forward", true, true, 0 },
        { "GRU", "bidirectional", true, false, 0 },
        { "GRU", "reverse", false, true, 0 },
        { "RNN", "forward", true, true, 1 },
        { "RNN", "bidirectional", false, false, 1 },
        { "RNN", "reverse", true, true, 0 },
        { "RNN", "bidirectional", true, false, 0 },
    };

    [Theory]
    [MemberData(nameof(FusedConfigurations))]
    public void FusedRecurrentGradientsMatchFiniteDifferences(string op, string direction, bool bias, bool initial, long lbr)
    {
        long d = direction == "bidirectional" ? 2 : 1, gates = Gates(op);
        var inputs = new List<GradInput> { new("x", [T, N, I], BatchAxis: 1), new("w", [d, gates * H, I]), new("r", [d, gates * H, H]) };
        if (bias) inputs.Add(new("b", [d, 2 * gates * H]));
        if (initial) { inputs.Add(new("h0", [d, 1, H])); if (op == "LSTM") inputs.Add(new("c0", [d, 1, H])); }
        CheckWholeNodeGradients(op, direction, bias, initial, lbr, [.. inputs]);
    }

    [Theory]
    [InlineData("LSTM")]
    [InlineData("GRU")]
    [InlineData("RNN")]
    public void FusedRecurrentGradientsHandleASingleStep(string op)
    {
        long gates = Gates(op);
        CheckWholeNodeGradients(op, "bidirectional", true, false, 1,
            [new("x", [1, N, I], BatchAxis: 1), new("w", [2, gates * H, I]), new("r", [2, gates * H, H]), new("b", [2, 2 * gates * H])]);
    }

    private static long Gates(string op) => op switch { "LSTM" => 4, "GRU" => 3, _ => 1 };

    /// <summary>
    /// Finite differences of every output of one recurrent node that stays in the graph (ORT's kernel), so that its
    /// whole-node rule recomputes the gates and runs backpropagation through time as a Scan.
    /// </summary>
    private static void CheckWholeNodeGradients(string op, string direction, bool bias, bool initial, long lbr, GradInput[] inputs)
    {
        int outputs = op == "LSTM" ? 3 : 2;
        for (int output = 0; output < outputs; output++)
        {
            int pick = output;
            var r = GradCheck.Check(ElementType.Float, inputs, g => Emit(g, op, direction, 0, bias, initial, lbr, outputs)[pick],
                forwardRewrite: (g, s) => Assert.Contains(g.Graph.Node, n => n.OpType == op), samples: 30, step: 1e-2, tolerance: 1e-2);
            Assert.True(r.Checked >= 20, $"{op} output {pick}: {r.Checked} elements checked");
        }
    }

    [Theory]
    [InlineData("clip")]
    [InlineData("activations")]
    [InlineData("layout")]
    public void UnsupportedFormsAreNamedInTheError(string what)
    {
        var b = new GraphBuilder("rnn");
        b.Input("x", ElementType.Float, T, null, I);
        var w = b.Initializer(Tensors.Float("w", [1, 4 * H, I], new float[4 * H * I]));
        var r = b.Initializer(Tensors.Float("r", [1, 4 * H, H], new float[4 * H * H]));
        var attr = what switch { "clip" => Attr.Float("clip", 3f), "layout" => Attr.Int("layout", 1), _ => Attr.Strings("activations", "Relu", "Tanh", "Tanh") };
        var y = b.OpMulti("LSTM", ["x", w, r], 1, Attr.Int("hidden_size", H), attr)[0];
        b.OutputAs(y, "y", ElementType.Float, T, 1, null, H);
        var model = OnnxModel.Create(b.Graph);
        ShapeTable shapes;
        if (what == "layout") // ONNX Runtime's CPU kernels refuse layout 1, so the probe cannot run it: shapes by hand
        {
            shapes = new ShapeTable();
            shapes.Set("x", [T, -1, I], ElementType.Float);
            shapes.Set(w, [1, 4 * H, I], ElementType.Float);
            shapes.Set(r, [1, 4 * H, H], ElementType.Float);
        }
        else shapes = ShapeProbe.Infer(model, "x", [T, -1, I]);
        var e = Assert.Throws<NotSupportedException>(() => RecurrentLowering.Apply(new GraphBuilder(model.Graph), shapes));
        Assert.Contains(what, e.Message);
        Assert.Contains("(LSTM)", e.Message);
    }
}
