using System.Diagnostics;
using System.Globalization;
using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Benchmarks;

/// <summary>
/// <c>recurrent [T ...]</c>: one bidirectional LSTM layer's forward (batch 64, 12 features, width 64) in three forms of
/// standard ONNX, timed on the CPU: ORT's fused <c>LSTM</c> kernel, the recurrence as one <c>Scan</c> (both directions on a
/// direction axis, the input projections of all steps as one MatMul outside the loop), and the graph that
/// <see cref="RecurrentLowering"/> unrolls for training. Prints session creation and the median forward of 5 windows of 5
/// runs per form: whether a Scan would keep the unrolled graph's speed without its session-creation cost (which grows
/// with the square of the node count; docs/training-speed.md, "Recurrent nets"). The forward only: the backward would
/// be a second, reverse-time Scan.
/// </summary>
internal static class RecurrentFormsReport
{
    private const int N = 64, F = 12, H = 64, D = 2;

    public static int Run(string[] args)
    {
        var lengths = args.Length > 0 ? args.Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToArray() : [100, 400];
        foreach (int t in lengths)
        {
            var rng = new Random(1);
            float[] R(long n) => Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.3f).ToArray();
            var (w, r, b) = (R(D * 4 * H * F), R(D * 4 * H * H), R(D * 8 * H));
            var x = R(t * N * F);
            float[]? reference = null;
            foreach (var (name, model) in new (string, ModelProto)[] { ("fused LSTM", Fused(t, w, r, b)), ("Scan", Scanned(t, w, r, b)), ("unrolled", Unrolled(t, w, r, b)) })
            {
                using var options = new SessionOptions { IntraOpNumThreads = Environment.ProcessorCount, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
                var sw = Stopwatch.StartNew();
                using var session = new InferenceSession(OnnxModel.ToBytes(model), options);
                double create = sw.Elapsed.TotalSeconds;
                using var input = OrtValue.CreateTensorValueFromMemory(x, [t, N, F]);
                using var runOptions = new RunOptions();
                float[] Forward()
                {
                    using var o = session.Run(runOptions, ["x"], [input], ["y"]);
                    return o[0].GetTensorDataAsSpan<float>().ToArray();
                }
                var y = Forward();
                reference ??= y;
                double diff = y.Zip(reference, (a, c) => Math.Abs(a - c)).Max();
                for (int i = 0; i < 2; i++) Forward();
                var ms = new List<double>();
                for (int rep = 0; rep < 5; rep++)
                {
                    sw.Restart();
                    for (int i = 0; i < 5; i++) Forward();
                    ms.Add(sw.Elapsed.TotalMilliseconds / 5);
                }
                ms.Sort();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"T={t} {name}: {model.Graph.Node.Count} nodes, session {create:F2} s, forward {ms[2]:F2} ms [{ms[0]:F2}-{ms[4]:F2}], max |y - fused y| {diff:E1}"));
            }
        }
        return 0;
    }

    private static ModelProto Fused(int t, float[] w, float[] r, float[] b)
    {
        var g = new GraphBuilder("fused");
        g.Input("x", ElementType.Float, t, null, F);
        var y = g.OpMulti("LSTM", ["x", g.Initializer(Tensors.Float("w", [D, 4 * H, F], w)), g.Initializer(Tensors.Float("r", [D, 4 * H, H], r)),
            g.Initializer(Tensors.Float("b", [D, 8 * H], b))], 1, Attr.Int("hidden_size", H), Attr.String("direction", "bidirectional"))[0];
        g.OutputAs(y, "y", ElementType.Float, t, D, null, H);
        return OnnxModel.Create(g.Graph, 18);
    }

    private static ModelProto Unrolled(int t, float[] w, float[] r, float[] b)
    {
        var m = Fused(t, w, r, b);
        RecurrentLowering.Apply(new GraphBuilder(m.Graph), ShapeProbe.Infer(m, "x", [t, -1, F]));
        return m;
    }

    /// <summary>
    /// Scan over steps k (time k forward, T-1-k in reverse): state h, c [D, N, H]; scan input the projections
    /// p_k = x W^T + Wb + Rb [D, N, 4H]; body z = p_k + h R^T, gates i, o, f (one Sigmoid) and c~ (Tanh), c = f c' + i c~,
    /// h = o tanh(c); scan outputs h per step (and the gates, which a backward Scan would read). Y puts the reverse
    /// direction's steps back in time order.
    /// </summary>
    private static ModelProto Scanned(int t, float[] w, float[] r, float[] b)
    {
        var body = new GraphBuilder("lstm_step");
        body.Input("h_in", ElementType.Float, D, N, H);
        body.Input("c_in", ElementType.Float, D, N, H);
        body.Input("p_k", ElementType.Float, D, N, 4 * H);
        var z = body.Op("Add", ["p_k", body.Op("MatMul", ["h_in", "rt"])]);
        var split = body.OpMulti("Split", [z, body.ConstInt64("step_split", 3 * H, H)], 2, Attr.Int("axis", 2));
        var sig = body.Op("Sigmoid", [split[0]]);
        var cand = body.Op("Tanh", [split[1]]);
        var iof = body.OpMulti("Split", [sig, body.ConstInt64("gate_split", H, H, H)], 3, Attr.Int("axis", 2));
        var c = body.Op("Add", [body.Op("Mul", [iof[2], "c_in"]), body.Op("Mul", [iof[0], cand])]);
        var h = body.Op("Mul", [iof[1], body.Op("Tanh", [c])]);
        body.OutputAs(h, "h_out", ElementType.Float, D, N, H);
        body.OutputAs(c, "c_out", ElementType.Float, D, N, H);
        body.OutputAs(body.Op("Identity", [h]), "h_k", ElementType.Float, D, N, H);
        body.OutputAs(body.Op("Concat", [sig, cand], Attr.Int("axis", 2)), "gates_k", ElementType.Float, D, N, 4 * H);
        // A subgraph's value names must not repeat the outer graph's.
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var n in body.Graph.Node)
            for (int k = 0; k < n.Output.Count; k++) n.Output[k] = renamed[n.Output[k]] = "step_" + n.Output[k];
        foreach (var n in body.Graph.Node)
            for (int k = 0; k < n.Input.Count; k++) if (renamed.TryGetValue(n.Input[k], out var v)) n.Input[k] = v;
        foreach (var o in body.Graph.Output) if (renamed.TryGetValue(o.Name, out var v)) o.Name = v;

        var g = new GraphBuilder("scan");
        g.Input("x", ElementType.Float, t, N, F);
        var wt = new float[F * D * 4 * H];
        for (int row = 0; row < D * 4 * H; row++) for (int col = 0; col < F; col++) wt[col * D * 4 * H + row] = w[row * F + col];
        var bias = new float[D * 4 * H];
        for (int d = 0; d < D; d++) for (int k = 0; k < 4 * H; k++) bias[d * 4 * H + k] = b[d * 8 * H + k] + b[d * 8 * H + 4 * H + k];
        var proj = g.Op("Add", [g.Op("MatMul", ["x", g.Initializer(Tensors.Float("wt", [F, D * 4 * H], wt))]), g.Initializer(Tensors.Float("bias", [D * 4 * H], bias))]);
        var p = g.Op("Transpose", [g.Op("Reshape", [proj, g.ConstInt64("p_shape", t, N, D, 4 * H)])], Attr.Ints("perm", 0, 2, 1, 3));
        var forward = g.Op("Slice", [p, g.ConstInt64("f0", 0), g.ConstInt64("f1", 1), g.ConstInt64("fa", 1)]);
        var reverse = Reversed(g, g.Op("Slice", [p, g.ConstInt64("r0", 1), g.ConstInt64("r1", 2), g.ConstInt64("ra", 1)]), "p");
        var steps = g.Op("Concat", [forward, reverse], Attr.Int("axis", 1));
        var rt = new float[D * H * 4 * H];
        for (int d = 0; d < D; d++) for (int k = 0; k < 4 * H; k++) for (int j = 0; j < H; j++) rt[(d * H + j) * 4 * H + k] = r[(d * 4 * H + k) * H + j];
        g.Initializer(Tensors.Float("rt", [D, H, 4 * H], rt));
        var zeros = g.Initializer(Tensors.Float("zeros", [D, N, H], new float[D * N * H]));
        var outs = g.OpMulti("Scan", [zeros, zeros, steps], 4, Attr.Int("num_scan_inputs", 1),
            new AttributeProto { Name = "body", Type = AttributeProto.Types.AttributeType.Graph, G = body.Graph });
        var hs = outs[2]; // [T, D, N, H] in step order
        var y = g.Op("Concat", [g.Op("Slice", [hs, g.ConstInt64("y0", 0), g.ConstInt64("y1", 1), g.ConstInt64("ya", 1)]),
            Reversed(g, g.Op("Slice", [hs, g.ConstInt64("z0", 1), g.ConstInt64("z1", 2), g.ConstInt64("za", 1)]), "y")], Attr.Int("axis", 1));
        g.OutputAs(y, "y", ElementType.Float, t, D, N, H);
        return OnnxModel.Create(g.Graph, 18);
    }

    private static string Reversed(GraphBuilder g, string v, string tag) =>
        g.Op("Slice", [v, g.ConstInt64(tag + "_rs", -1), g.ConstInt64(tag + "_re", long.MinValue), g.ConstInt64(tag + "_ra", 0), g.ConstInt64(tag + "_rst", -1)]);
}
