using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Autodiff;

internal static partial class GradientRules
{
    /// <summary>
    /// Whether <see cref="Lstm"/> differentiates <paramref name="n"/> (otherwise <see cref="RecurrentLowering"/> unrolls
    /// it): layout 0, a fixed number of steps, default activations, no sequence_lens, peepholes, clip or input_forget.
    /// </summary>
    internal static bool LstmRuleTakes(NodeProto n) =>
        n.OpType == "LSTM" && n.GetInt("layout", 0) == 0 && n.GetInt("input_forget", 0) == 0
        && !n.Attribute.Any(a => a.Name is "clip" or "activation_alpha" or "activation_beta"
            || (a.Name == "activations" && a.Strings.Select((v, i) => v.ToStringUtf8().ToLowerInvariant() != (i % 3 == 0 ? "sigmoid" : "tanh")).Any(bad => bad)))
        && (n.Input.Count <= 4 || n.Input[4].Length == 0) && (n.Input.Count <= 7 || n.Input[7].Length == 0);

    /// <summary>
    /// LSTM (ONNX gates i, o, f, c; layout 0; D directions; see <see cref="LstmRuleTakes"/>) without unrolling it: the
    /// forward stays ORT's fused node. From its output Y the pre-activations of all steps are recomputed outside any loop,
    /// Z = X W^T + H_prev R^T + Wb + Rb (H_prev: Y shifted one step in each direction's time order, the initial state
    /// first); the cell states by a small Scan c_k = f_k c_{k-1} + i_k g_k; then one reverse Scan over the steps
    /// (direction d's step k is time k forward, T-1-k in reverse) carries dh and dc:
    /// <code>
    /// dh = dY_k + dh';  dc = dc' + dh o (1 - tanh(c_k)^2)
    /// dz = [dc g i(1-i), dh tanh(c_k) o(1-o), dc c_{k-1} f(1-f), dc i (1-g^2)];  dh' = dz R;  dc' = dc f
    /// </code>
    /// and the gradients of X, W, R, B are MatMuls and sums over all steps of dz. Y_h's and Y_c's gradients are the
    /// reverse Scan's initial states; its final states are those of initial_h and initial_c. O(1) nodes in T.
    /// </summary>
    private static void Lstm(RuleContext c)
    {
        var n = c.Node;
        if (!LstmRuleTakes(n)) throw c.Unsupported("this LSTM form is unrolled, not differentiated whole (RecurrentLowering)");
        var e = c.E;
        var t = c.T;
        var xd = c.Dims(c.In(0));
        long steps = xd[0], inputs = xd[2], h = n.GetInt("hidden_size", 0), d = n.GetString("direction", "forward") == "bidirectional" ? 2 : 1;
        if (steps < 1) throw c.Unsupported("the number of steps must be fixed");
        bool reverse = n.GetString("direction", "forward") == "reverse";
        string x = c.In(0), w = c.In(1), r = c.In(2), bias = c.In(3), h0 = c.In(5), c0 = c.In(6);
        long g4 = 4 * h;

        // Y (all steps' h) is needed: add the output when the model did not use it.
        if (n.Output.Count == 0 || n.Output[0].Length == 0)
        {
            var yName = e.B.Unique("lstm_y");
            if (n.Output.Count == 0) n.Output.Add(yName); else n.Output[0] = yName;
            c.S.Set(yName, [steps, d, -1, h], t);
        }
        string y = n.Output[0];
        long[] state = [d, -1, h];
        string Reg(string v, params long[] dims) { c.S.Set(v, dims, t); return v; }
        // Time order <-> step order: the reverse direction's time axis flipped (an involution).
        string Steps(string v, long[] dims)
        {
            if (d == 1 && !reverse) return v;
            if (d == 1) return Reg(e.Op("Slice", [v, e.I64(-1), e.I64(long.MinValue), e.I64(0), e.I64(-1)]), dims);
            var fwdPart = e.Op("Slice", [v, e.I64(0), e.I64(1), e.I64(1)]);
            var revPart = e.Op("Slice", [e.Op("Slice", [v, e.I64(1), e.I64(2), e.I64(1)]), e.I64(-1), e.I64(long.MinValue), e.I64(0), e.I64(-1)]);
            return Reg(e.Op("Concat", [fwdPart, revPart], Attr.Int("axis", 1)), dims);
        }
        var zeroState = Reg(e.Zeros([1, d, -1, h], Reg(e.Op("Slice", [y, e.I64(0), e.I64(1), e.I64(0)]), 1, d, -1, h), t), 1, d, -1, h);
        var zero = Reg(e.Op("Squeeze", [zeroState, e.I64(0)]), state);
        string State0(string given) => given.Length > 0 ? Reg(e.Op("Unsqueeze", [given, e.I64(0)]), 1, d, -1, h) : zeroState;

        // H_prev in step order: the initial state, then Y's first T-1 steps.
        var ySteps = Steps(y, [steps, d, -1, h]);
        var hPrevSteps = steps == 1 ? State0(h0)
            : Reg(e.Op("Concat", [State0(h0), e.Op("Slice", [ySteps, e.I64(0), e.I64(steps - 1), e.I64(0)])], Attr.Int("axis", 0)), steps, d, -1, h);
        // X in step order per direction [T, D, N, I] (small: I features), so that every big tensor below stays in step order.
        var xSteps = Steps(Reg(e.Op("Expand", [e.Op("Unsqueeze", [x, e.I64(1)]), e.I64(1, d, 1, 1)]), steps, d, -1, inputs), [steps, d, -1, inputs]);
        // Z = X W^T + H_prev R^T (+ Wb + Rb): [T, D, N, I] x [D, I, 4H] and [T, D, N, H] x [D, H, 4H] -> [T, D, N, 4H]
        var wt = e.Op("Transpose", [w], Attr.Ints("perm", 0, 2, 1));
        var rt = e.Op("Transpose", [r], Attr.Ints("perm", 0, 2, 1));
        var zSteps = e.Op("Add", [e.Op("MatMul", [xSteps, wt]), e.Op("MatMul", [hPrevSteps, rt])]);
        if (bias.Length > 0)
        {
            var parts = e.B.OpMulti("Split", [bias, e.I64(g4, g4)], 2, Attr.Int("axis", 1));
            zSteps = e.Op("Add", [zSteps, e.Op("Unsqueeze", [e.Op("Add", [parts[0], parts[1]]), e.I64(1)])]); // [D, 1, 4H]
        }
        Reg(zSteps, steps, d, -1, g4);
        var zParts = e.B.OpMulti("Split", [zSteps, e.I64(3 * h, h)], 2, Attr.Int("axis", 3));
        var iof = e.Op("Sigmoid", [zParts[0]]);
        var gate = e.Op("Tanh", [zParts[1]]);
        var gates = Reg(e.Op("Concat", [iof, gate], Attr.Int("axis", 3)), steps, d, -1, g4);
        var gp = e.B.OpMulti("Split", [gates, e.I64(h, h, h, h)], 4, Attr.Int("axis", 3));

        // Cell states by a Scan over the steps: c_k = f_k c_{k-1} + i_k g_k.
        var c0State = c0.Length > 0 ? c0 : zero;
        var cells = ScanBody(e, "lstm_cells", t, [("c_in", state)], [("f_k", state), ("ig_k", state)], [("c_out", state)], [("c_k", state)],
            (b, i) =>
            {
                var cNew = b.Op("Add", [b.Op("Mul", [i[1], i[0]]), i[2]]);
                return [cNew, b.Op("Identity", [cNew])];
            });
        var cellOuts = e.B.OpMulti("Scan", [c0State, gp[2], e.Op("Mul", [gp[0], gp[3]])], 2, Attr.Int("num_scan_inputs", 2), cells);
        var cSteps = Reg(cellOuts[1], steps, d, -1, h);
        var cPrevSteps = steps == 1 ? Reg(e.Op("Unsqueeze", [c0State, e.I64(0)]), 1, d, -1, h)
            : Reg(e.Op("Concat", [e.Op("Unsqueeze", [c0State, e.I64(0)]), e.Op("Slice", [cSteps, e.I64(0), e.I64(steps - 1), e.I64(0)])], Attr.Int("axis", 0)), steps, d, -1, h);

        // The reverse Scan: dh, dc carried back over the steps, dz per step.
        var dyStepsSrc = c.Dy(0) is { } dy ? Steps(dy, [steps, d, -1, h]) : Reg(e.Zeros([steps, d, -1, h], ySteps, t), steps, d, -1, h);
        var dh0 = c.Dy(1) ?? zero;
        var dc0 = c.Dy(2) ?? zero;
        var back = ScanBody(e, "lstm_bptt", t, [("dh_in", state), ("dc_in", state)],
            [("dy_k", state), ("gates_k", [d, -1, g4]), ("c_k", state), ("cprev_k", state)],
            [("dh_out", state), ("dc_out", state)], [("dz_k", [d, -1, g4])],
            (b, i) =>
            {
                string dhNext = i[0], dcNext = i[1], dyK = i[2], gatesK = i[3], cK = i[4], cPrev = i[5];
                var gs = b.OpMulti("Split", [gatesK, b.ConstInt64("split4", h, h, h, h)], 4, Attr.Int("axis", 2));
                string ig = gs[0], og = gs[1], fg = gs[2], gg = gs[3];
                var one = b.Initializer(GradEmitter.MakeTensor("one", [], [1.0], t));
                string OneMinus(string v) => b.Op("Sub", [one, v]);
                var dh = b.Op("Add", [dyK, dhNext]);
                var tc = b.Op("Tanh", [cK]);
                var dc = b.Op("Add", [dcNext, b.Op("Mul", [b.Op("Mul", [dh, og]), OneMinus(b.Op("Mul", [tc, tc]))])]);
                var dzi = b.Op("Mul", [b.Op("Mul", [dc, gg]), b.Op("Mul", [ig, OneMinus(ig)])]);
                var dzo = b.Op("Mul", [b.Op("Mul", [dh, tc]), b.Op("Mul", [og, OneMinus(og)])]);
                var dzf = b.Op("Mul", [b.Op("Mul", [dc, cPrev]), b.Op("Mul", [fg, OneMinus(fg)])]);
                var dzg = b.Op("Mul", [b.Op("Mul", [dc, ig]), OneMinus(b.Op("Mul", [gg, gg]))]);
                var dz = b.Op("Concat", [dzi, dzo, dzf, dzg], Attr.Int("axis", 2));
                return [b.Op("MatMul", [dz, r]), b.Op("Mul", [dc, fg]), dz];
            });
        var backOuts = e.B.OpMulti("Scan", [dh0, dc0, dyStepsSrc, gates, cSteps, cPrevSteps], 3, Attr.Int("num_scan_inputs", 4),
            back, Attr.Ints("scan_input_directions", 1, 1, 1, 1), Attr.Ints("scan_output_directions", 1));
        var dhInit = Reg(backOuts[0], state);
        var dcInit = Reg(backOuts[1], state);
        var dz = Reg(backOuts[2], steps, d, -1, g4); // step order [T, D, N, 4H]

        // Gradients over all steps at once, in step order (sums over steps do not care about the order).
        if (c.Needs(0)) // dX = sum_d dz_d W_d: [T, D, N, 4H] x [D, 4H, I] -> [T, D, N, I] (small) -> time order -> sum over D
            c.Add(0, Reg(e.Op("ReduceSum", [Steps(Reg(e.Op("MatMul", [dz, w]), steps, d, -1, inputs), [steps, d, -1, inputs]), e.I64(1)], Attr.Int("keepdims", 0)), steps, -1, inputs));
        // Rows (step, sample) per direction: [D, T*N, .]; dW = dz_rows^T x_rows, dR = dz_rows^T h_rows (ORT fuses the transposes into the MatMuls).
        string Rows(string v, long width) => e.Op("Reshape", [d == 1 ? v : e.Op("Transpose", [v], Attr.Ints("perm", 1, 0, 2, 3)), e.I64(d, -1, width)]);
        var dzRowsT = e.Op("Transpose", [Rows(dz, g4)], Attr.Ints("perm", 0, 2, 1)); // [D, 4H, T*N]
        if (c.Needs(1)) c.Add(1, Reg(e.Op("MatMul", [dzRowsT, Rows(xSteps, inputs)]), d, g4, inputs));
        if (c.Needs(2)) c.Add(2, Reg(e.Op("MatMul", [dzRowsT, Rows(hPrevSteps, h)]), d, g4, h));
        if (c.Needs(3))
        {
            var db = e.Op("ReduceSum", [dz, e.I64(0, 2)], Attr.Int("keepdims", 0)); // [D, 4H]
            c.Add(3, Reg(e.Op("Concat", [db, db], Attr.Int("axis", 1)), d, 2 * g4));
        }
        if (c.Needs(5)) c.Add(5, dhInit);
        if (c.Needs(6)) c.Add(6, dcInit);
    }

    /// <summary>
    /// A Scan body graph: <paramref name="states"/> then <paramref name="scanIns"/> as inputs, <paramref name="build"/>
    /// returns the new states then the scan outputs (in the order of <paramref name="stateOuts"/>,
    /// <paramref name="scanOuts"/>). Names are prefixed so that they do not repeat the outer graph's (SSA across scopes).
    /// </summary>
    private static AttributeProto ScanBody(GradEmitter e, string tag, ElementType t,
        (string Name, long[] Dims)[] states, (string Name, long[] Dims)[] scanIns,
        (string Name, long[] Dims)[] stateOuts, (string Name, long[] Dims)[] scanOuts, Func<GraphBuilder, string[], string[]> build)
    {
        var prefix = e.B.Unique(tag) + "_";
        var b = new GraphBuilder(prefix + "body");
        var inputs = states.Concat(scanIns).Select(s => b.Input(prefix + s.Name, t, [.. s.Dims.Select(v => v < 0 ? (long?)null : v)])).ToArray();
        var outs = build(b, inputs);
        var decl = stateOuts.Concat(scanOuts).ToArray();
        for (int i = 0; i < decl.Length; i++)
            b.OutputAs(outs[i], prefix + decl[i].Name, t, [.. decl[i].Dims.Select(v => v < 0 ? (long?)null : v)]);
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var node in b.Graph.Node)
            for (int k = 0; k < node.Output.Count; k++)
                if (!node.Output[k].StartsWith(prefix, StringComparison.Ordinal)) node.Output[k] = renamed[node.Output[k]] = prefix + node.Output[k];
        foreach (var init in b.Graph.Initializer) { var nn = prefix + init.Name; renamed[init.Name] = nn; init.Name = nn; }
        foreach (var node in b.Graph.Node)
            for (int k = 0; k < node.Input.Count; k++) if (renamed.TryGetValue(node.Input[k], out var v)) node.Input[k] = v;
        foreach (var o in b.Graph.Output) if (renamed.TryGetValue(o.Name, out var v)) o.Name = v;
        return new AttributeProto { Name = "body", Type = AttributeProto.Types.AttributeType.Graph, G = b.Graph };
    }
}
