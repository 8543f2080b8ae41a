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
        n.OpType == "LSTM" && WholeNodeForm(n) && RecurrentLowering.PlainActivations(n) && n.GetInt("input_forget", 0) == 0
        && (n.Input.Count <= 7 || n.Input[7].Length == 0);

    /// <summary>
    /// Whether <see cref="Gru"/> differentiates <paramref name="n"/> (otherwise <see cref="RecurrentLowering"/> unrolls
    /// it): layout 0, default activations, no sequence_lens or clip (linear_before_reset 1, PyTorch's, or 0, ONNX's default).
    /// </summary>
    internal static bool GruRuleTakes(NodeProto n) => n.OpType == "GRU" && WholeNodeForm(n) && RecurrentLowering.PlainActivations(n);

    /// <summary>
    /// LSTM (ONNX gates i, o, f, c; layout 0; D directions; see <see cref="LstmRuleTakes"/>) without unrolling it: the
    /// forward stays ORT's fused node. From its output Y the pre-activations of all steps are recomputed outside any loop,
    /// Z = X W^T + H_prev R^T + Wb + Rb (H_prev: each direction's previous step's h, the initial state first); the cell
    /// states by a small Scan c_k = f_k c_{k-1} + i_k g_k; then one reverse Scan over the steps (direction d's step k is
    /// time k forward, T-1-k in reverse) carries dh and dc:
    /// <code>
    /// dh = dY_k + dh';  dc = dc' + dh o (1 - tanh(c_k)^2)
    /// dz = [dc g i(1-i), dh tanh(c_k) o(1-o), dc c_{k-1} f(1-f), dc i (1-g^2)];  dh' = dz R;  dc' = dc f
    /// </code>
    /// and the gradients of X, W, R, B are MatMuls and sums over all steps of dz. Y_h's and Y_c's gradients are the
    /// reverse Scan's initial states; its final states are those of initial_h and initial_c. O(1) nodes in T.
    /// </summary>
    private static void Lstm(RuleContext c)
    {
        if (!LstmRuleTakes(c.Node)) throw c.Unsupported("this LSTM form is unrolled, not differentiated whole (RecurrentLowering)");
        var f = new RecurrentFrame(c, gates: 4);
        var (e, t, h, d, steps, state) = (c.E, c.T, f.H, f.D, f.Steps, f.State);
        string r = c.In(2), c0 = c.In(6);
        long g4 = 4 * h;
        var z = f.Preactivations();
        var zParts = e.B.OpMulti("Split", [z, e.I64(3 * h, h)], 2, Attr.Int("axis", 3));
        var gates = f.Reg(e.Op("Concat", [e.Op("Sigmoid", [zParts[0]]), e.Op("Tanh", [zParts[1]])], Attr.Int("axis", 3)), steps, d, -1, g4);
        var gp = e.B.OpMulti("Split", [gates, e.I64(h, h, h, h)], 4, Attr.Int("axis", 3));

        // Cell states by a Scan over the steps: c_k = f_k c_{k-1} + i_k g_k.
        var c0State = c0.Length > 0 ? c0 : f.Zero;
        var cells = ScanBody(e, "lstm_cells", t, [("c_in", state)], [("f_k", state), ("ig_k", state)], [("c_out", state)], [("c_k", state)],
            (b, i) =>
            {
                var cNew = b.Op("Add", [b.Op("Mul", [i[1], i[0]]), i[2]]);
                return [cNew, b.Op("Identity", [cNew])];
            });
        var cellOuts = e.B.OpMulti("Scan", [c0State, gp[2], e.Op("Mul", [gp[0], gp[3]])], 2, Attr.Int("num_scan_inputs", 2), cells);
        var cSteps = f.Reg(cellOuts[1], steps, d, -1, h);
        var cPrevSteps = f.Previous(cSteps, f.Reg(e.Op("Unsqueeze", [c0State, e.I64(0)]), 1, d, -1, h));

        // The reverse Scan: dh, dc carried back over the steps, dz per step.
        var back = ScanBody(e, "lstm_bptt", t, [("dh_in", state), ("dc_in", state)],
            [("dy_k", state), ("gates_k", [d, -1, g4]), ("c_k", state), ("cprev_k", state)],
            [("dh_out", state), ("dc_out", state)], [("dz_k", [d, -1, g4])],
            (b, i) =>
            {
                string dhNext = i[0], dcNext = i[1], dyK = i[2], gatesK = i[3], cK = i[4], cPrev = i[5];
                var gs = b.OpMulti("Split", [gatesK, b.ConstInt64("split4", h, h, h, h)], 4, Attr.Int("axis", 2));
                string ig = gs[0], og = gs[1], fg = gs[2], gg = gs[3];
                var OneMinus = OneMinusIn(b, t);
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
        var backOuts = e.B.OpMulti("Scan", [c.Dy(1) ?? f.Zero, c.Dy(2) ?? f.Zero, f.DySteps(), gates, cSteps, cPrevSteps], 3,
            Attr.Int("num_scan_inputs", 4), back, Attr.Ints("scan_input_directions", 1, 1, 1, 1), Attr.Ints("scan_output_directions", 1));
        var dz = f.Reg(backOuts[2], steps, d, -1, g4); // step order [T, D, N, 4H]
        f.AddWeightGradients(dz, dz);
        if (c.Needs(5)) c.Add(5, f.Reg(backOuts[0], state));
        if (c.Needs(6)) c.Add(6, f.Reg(backOuts[1], state));
    }

    /// <summary>
    /// GRU (ONNX gates z, r, h; see <see cref="GruRuleTakes"/>) without unrolling it, like <see cref="Lstm"/>; this is
    /// linear_before_reset 1 (PyTorch's), 0 goes to <see cref="GruResetFirst"/>. Everything a step needs is recomputed outside loops from Y: XP = X W^T + Wb and
    /// HP = H_prev R^T + Rb, z = sigmoid(XP_z + HP_z), r = sigmoid(XP_r + HP_r), n = tanh(XP_h + r HP_h); one reverse
    /// Scan carries dh:
    /// <code>
    /// dh = dY_k + dh';  da = dh (1-z) (1-n^2);  dz = dh (h_prev - n) z(1-z);  dr = da HP_h r(1-r)
    /// gx = [dz, dr, da] (XP's gradient);  gh = [dz, dr, da r] (HP's);  dh' = dh z + gh R
    /// </code>
    /// then dX = sum_d gx W, dW = gx^T X, dR = gh^T H_prev, dB = [sum gx, sum gh].
    /// </summary>
    private static void Gru(RuleContext c)
    {
        if (!GruRuleTakes(c.Node)) throw c.Unsupported("this GRU form is unrolled, not differentiated whole (RecurrentLowering)");
        var f = new RecurrentFrame(c, gates: 3);
        var (e, t, h, d, steps, state) = (c.E, c.T, f.H, f.D, f.Steps, f.State);
        string r = c.In(2);
        long g3 = 3 * h;
        var (xp, hp) = f.Projections();
        var xParts = e.B.OpMulti("Split", [xp, e.I64(2 * h, h)], 2, Attr.Int("axis", 3));
        var hParts = e.B.OpMulti("Split", [hp, e.I64(2 * h, h)], 2, Attr.Int("axis", 3));
        var zr = e.Op("Sigmoid", [e.Op("Add", [xParts[0], hParts[0]])]);
        var zrParts = e.B.OpMulti("Split", [zr, e.I64(h, h)], 2, Attr.Int("axis", 3));
        if (c.Node.GetInt("linear_before_reset", 0) == 0)
        {
            GruResetFirst(c, f, xParts[1], zr, zrParts[1]);
            return;
        }
        var cand = e.Op("Tanh", [e.Op("Add", [xParts[1], e.Op("Mul", [zrParts[1], hParts[1]])])]);
        var gates = f.Reg(e.Op("Concat", [zr, cand], Attr.Int("axis", 3)), steps, d, -1, g3); // z, r, n

        var back = ScanBody(e, "gru_bptt", t, [("dh_in", state)],
            [("dy_k", state), ("gates_k", [d, -1, g3]), ("hh_k", state), ("hprev_k", state)],
            [("dh_out", state)], [("gx_k", [d, -1, g3]), ("gh_k", [d, -1, g3])],
            (b, i) =>
            {
                string hhK = i[3];
                var (dh, zg, rg, da, dz, OneMinus) = GruStepGradients(b, t, h, dhNext: i[0], dyK: i[1], gatesK: i[2], hPrev: i[4]);
                var dr = b.Op("Mul", [b.Op("Mul", [da, hhK]), b.Op("Mul", [rg, OneMinus(rg)])]);
                var gx = b.Op("Concat", [dz, dr, da], Attr.Int("axis", 2));
                var gh = b.Op("Concat", [dz, dr, b.Op("Mul", [da, rg])], Attr.Int("axis", 2));
                return [b.Op("Add", [b.Op("Mul", [dh, zg]), b.Op("MatMul", [gh, r])]), gx, gh];
            });
        var backOuts = e.B.OpMulti("Scan", [c.Dy(1) ?? f.Zero, f.DySteps(), gates, hParts[1], f.HPrevSteps], 3,
            Attr.Int("num_scan_inputs", 4), back, Attr.Ints("scan_input_directions", 1, 1, 1, 1), Attr.Ints("scan_output_directions", 1, 1));
        f.AddWeightGradients(f.Reg(backOuts[1], steps, d, -1, g3), f.Reg(backOuts[2], steps, d, -1, g3));
        if (c.Needs(5)) c.Add(5, f.Reg(backOuts[0], state));
    }

    /// <summary>
    /// The GRU with linear_before_reset 0 (ONNX's default): n = tanh(XP_h + (r h_prev) Rh^T + Rbh). The candidate's
    /// recurrent term RH = (r H_prev) Rh^T + Rbh is recomputed outside loops too; the reverse Scan carries dh:
    /// <code>
    /// dh = dY_k + dh';  da = dh (1-z) (1-n^2);  dz = dh (h_prev - n) z(1-z);  m = da Rh;  dr = m h_prev r(1-r)
    /// gx = [dz, dr, da];  dh' = dh z + m r + [dz, dr] R_zr
    /// </code>
    /// then dR = [[dz, dr]^T H_prev, da^T (r H_prev)], dB = [sum gx, sum gx], dX and dW from gx.
    /// </summary>
    private static void GruResetFirst(RuleContext c, RecurrentFrame f, string xpH, string zr, string rg)
    {
        var (e, t, h, d, steps, state) = (c.E, c.T, f.H, f.D, f.Steps, f.State);
        long g3 = 3 * h;
        string r = c.In(2);
        var rParts = e.B.OpMulti("Split", [r, e.I64(2 * h, h)], 2, Attr.Int("axis", 1)); // R_zr [D, 2H, H], Rh [D, H, H]
        var resetH = f.Reg(e.Op("Mul", [rg, f.HPrevSteps]), steps, d, -1, h);
        var rh = e.Op("MatMul", [resetH, e.Op("Transpose", [rParts[1]], Attr.Ints("perm", 0, 2, 1))]);
        if (c.In(3).Length > 0)
            rh = e.Op("Add", [rh, e.Op("Unsqueeze", [e.Op("Slice", [c.In(3), e.I64(5 * h), e.I64(6 * h), e.I64(1)]), e.I64(1)])]); // Rbh [D, 1, H]
        var cand = e.Op("Tanh", [e.Op("Add", [xpH, rh])]);
        var gates = f.Reg(e.Op("Concat", [zr, cand], Attr.Int("axis", 3)), steps, d, -1, g3); // z, r, n

        var back = ScanBody(e, "gru_bptt", t, [("dh_in", state)],
            [("dy_k", state), ("gates_k", [d, -1, g3]), ("hprev_k", state)],
            [("dh_out", state)], [("gx_k", [d, -1, g3])],
            (b, i) =>
            {
                string hPrev = i[3];
                var (dh, zg, rgk, da, dz, OneMinus) = GruStepGradients(b, t, h, dhNext: i[0], dyK: i[1], gatesK: i[2], hPrev: hPrev);
                var m = b.Op("MatMul", [da, rParts[1]]);
                var dr = b.Op("Mul", [b.Op("Mul", [m, hPrev]), b.Op("Mul", [rgk, OneMinus(rgk)])]);
                var dzr = b.Op("Concat", [dz, dr], Attr.Int("axis", 2));
                var dhPrev = b.Op("Add", [b.Op("Add", [b.Op("Mul", [dh, zg]), b.Op("Mul", [m, rgk])]), b.Op("MatMul", [dzr, rParts[0]])]);
                return [dhPrev, b.Op("Concat", [dzr, da], Attr.Int("axis", 2))];
            });
        var backOuts = e.B.OpMulti("Scan", [c.Dy(1) ?? f.Zero, f.DySteps(), gates, f.HPrevSteps], 2,
            Attr.Int("num_scan_inputs", 3), back, Attr.Ints("scan_input_directions", 1, 1, 1), Attr.Ints("scan_output_directions", 1));
        var gx = f.Reg(backOuts[1], steps, d, -1, g3);
        f.AddWeightGradients(gx, gx, recurrent: false);
        if (c.Needs(2))
        {
            var gxParts = e.B.OpMulti("Split", [gx, e.I64(2 * h, h)], 2, Attr.Int("axis", 3));
            var dRzr = e.Op("MatMul", [f.RowsT(gxParts[0], 2 * h), f.Rows(f.HPrevSteps, h)]);
            var dRh = e.Op("MatMul", [f.RowsT(gxParts[1], h), f.Rows(resetH, h)]);
            c.Add(2, f.Reg(e.Op("Concat", [dRzr, dRh], Attr.Int("axis", 1)), d, g3, h));
        }
        if (c.Needs(5)) c.Add(5, f.Reg(backOuts[0], state));
    }

    /// <summary>1 - v inside a Scan body (its own constant 1 of type <paramref name="t"/>).</summary>
    private static Func<string, string> OneMinusIn(GraphBuilder b, ElementType t)
    {
        var one = b.Initializer(GradEmitter.MakeTensor("one", [], [1.0], t));
        return v => b.Op("Sub", [one, v]);
    }

    /// <summary>
    /// What a GRU step's backward computes in both forms: dh = dY_k + dh', the gates z, r, n split from
    /// <paramref name="gatesK"/>, da = dh (1-z)(1-n^2) (the candidate's pre-activation) and dz = dh (h_prev - n) z(1-z).
    /// </summary>
    private static (string Dh, string Z, string R, string Da, string Dz, Func<string, string> OneMinus) GruStepGradients(
        GraphBuilder b, ElementType t, long h, string dhNext, string dyK, string gatesK, string hPrev)
    {
        var gs = b.OpMulti("Split", [gatesK, b.ConstInt64("split3", h, h, h)], 3, Attr.Int("axis", 2));
        string zg = gs[0], rg = gs[1], ng = gs[2];
        var oneMinus = OneMinusIn(b, t);
        var dh = b.Op("Add", [dyK, dhNext]);
        var da = b.Op("Mul", [b.Op("Mul", [dh, oneMinus(zg)]), oneMinus(b.Op("Mul", [ng, ng]))]);
        var dz = b.Op("Mul", [b.Op("Mul", [dh, b.Op("Sub", [hPrev, ng])]), b.Op("Mul", [zg, oneMinus(zg)])]);
        return (dh, zg, rg, da, dz, oneMinus);
    }

    /// <summary>
    /// Whether <see cref="Rnn"/> differentiates <paramref name="n"/>: layout 0, tanh or relu (the same in both
    /// directions), no sequence_lens, clip, activation_alpha or activation_beta.
    /// </summary>
    internal static bool RnnRuleTakes(NodeProto n) =>
        n.OpType == "RNN" && WholeNodeForm(n) && RnnActivation(n) is not null
        && !n.Attribute.Any(a => a.Name is "clip" or "activation_alpha" or "activation_beta");

    /// <summary>
    /// Whether one of the whole-node rules (<see cref="Lstm"/>, <see cref="Gru"/>, <see cref="Rnn"/>) differentiates
    /// <paramref name="n"/>; the training graph unrolls the recurrent nodes it does not.
    /// </summary>
    internal static bool RecurrentRuleTakes(NodeProto n) => LstmRuleTakes(n) || GruRuleTakes(n) || RnnRuleTakes(n);

    /// <summary>What all three rules need: layout 0 (time-major) and no sequence_lens.</summary>
    private static bool WholeNodeForm(NodeProto n) => n.GetInt("layout", 0) == 0 && (n.Input.Count <= 4 || n.Input[4].Length == 0);

    /// <summary>"tanh" or "relu" when every direction uses it (absent: tanh), else null.</summary>
    private static string? RnnActivation(NodeProto n)
    {
        var names = n.Attribute.FirstOrDefault(a => a.Name == "activations")?.Strings.Select(v => v.ToStringUtf8().ToLowerInvariant()).Distinct().ToList();
        if (names is null || names.Count == 0) return "tanh";
        return names.Count == 1 && names[0] is "tanh" or "relu" ? names[0] : null;
    }

    /// <summary>
    /// RNN (h' = act(X W^T + H_prev R^T + Wb + Rb), act tanh or relu; see <see cref="RnnRuleTakes"/>) without unrolling:
    /// the forward stays ORT's fused node, and act' comes from Y itself (tanh: 1 - h'^2, relu: h' > 0), so the reverse
    /// Scan only carries dh: da = (dY_k + dh') act'(h_k), dh' = da R; then the gradients of X, W, R, B as for the LSTM.
    /// </summary>
    private static void Rnn(RuleContext c)
    {
        if (!RnnRuleTakes(c.Node)) throw c.Unsupported("this RNN form is unrolled, not differentiated whole (RecurrentLowering)");
        var f = new RecurrentFrame(c, gates: 1);
        var (e, t, h, d, steps, state) = (c.E, c.T, f.H, f.D, f.Steps, f.State);
        string r = c.In(2);
        bool relu = RnnActivation(c.Node) == "relu";
        var slope = f.Reg(relu
            ? e.Op("Cast", [e.Op("Greater", [f.YSteps, e.Scalar(0, t)])], Attr.Int("to", (long)t))
            : e.Op("Sub", [e.Scalar(1, t), e.Op("Mul", [f.YSteps, f.YSteps])]), steps, d, -1, h); // act'(h_k), step order
        var back = ScanBody(e, "rnn_bptt", t, [("dh_in", state)], [("dy_k", state), ("slope_k", state)], [("dh_out", state)], [("da_k", state)],
            (b, i) =>
            {
                var da = b.Op("Mul", [b.Op("Add", [i[1], i[0]]), i[2]]);
                return [b.Op("MatMul", [da, r]), b.Op("Identity", [da])];
            });
        var backOuts = e.B.OpMulti("Scan", [c.Dy(1) ?? f.Zero, f.DySteps(), slope], 2,
            Attr.Int("num_scan_inputs", 2), back, Attr.Ints("scan_input_directions", 1, 1), Attr.Ints("scan_output_directions", 1));
        var da = f.Reg(backOuts[1], steps, d, -1, h);
        f.AddWeightGradients(da, da);
        if (c.Needs(5)) c.Add(5, f.Reg(backOuts[0], state));
    }

    /// <summary>
    /// What the LSTM, GRU and RNN rules share: the node's dims, step order (direction d's step k is time k forward, T-1-k in
    /// reverse; an involution on [T, D, ...] tensors), zero states made without Shape, H_prev (each direction's previous
    /// h in step order, the initial state first), X per direction in step order, the input projections, and the
    /// gradients of X, W, R and B from the per-step gradients of the input and recurrent projections.
    /// </summary>
    private sealed class RecurrentFrame
    {
        private readonly RuleContext _c;
        private readonly GradEmitter _e;
        private readonly bool _reverse;
        private readonly long _gates;

        public RecurrentFrame(RuleContext c, int gates)
        {
            _c = c;
            _e = c.E;
            _gates = gates;
            var n = c.Node;
            var xd = c.Dims(c.In(0));
            Steps = xd[0];
            Inputs = xd[2];
            H = n.GetInt("hidden_size", 0);
            var direction = n.GetString("direction", "forward");
            D = direction == "bidirectional" ? 2 : 1;
            _reverse = direction == "reverse";
            if (Steps < 1) throw c.Unsupported("the number of steps must be fixed");
            State = [D, -1, H];
            // Y (all steps' h) is needed: add the output when the model did not use it.
            if (n.Output.Count == 0 || n.Output[0].Length == 0)
            {
                var yName = _e.B.Unique(n.OpType.ToLowerInvariant() + "_y");
                if (n.Output.Count == 0) n.Output.Add(yName); else n.Output[0] = yName;
                c.S.Set(yName, [Steps, D, -1, H], c.T);
            }
            var y = n.Output[0];
            ZeroStep = Reg(_e.Zeros([1, D, -1, H], Reg(_e.Op("Slice", [y, _e.I64(0), _e.I64(1), _e.I64(0)]), 1, D, -1, H), c.T), 1, D, -1, H);
            Zero = Reg(_e.Op("Squeeze", [ZeroStep, _e.I64(0)]), State);
            YSteps = ToggleOrder(y, [Steps, D, -1, H]);
            var h0 = c.In(5);
            HPrevSteps = Previous(YSteps, h0.Length > 0 ? Reg(_e.Op("Unsqueeze", [h0, _e.I64(0)]), 1, D, -1, H) : ZeroStep);
            XSteps = ToggleOrder(Reg(_e.Op("Expand", [_e.Op("Unsqueeze", [c.In(0), _e.I64(1)]), _e.I64(1, D, 1, 1)]), Steps, D, -1, Inputs), [Steps, D, -1, Inputs]);
        }

        public long Steps { get; }
        public long Inputs { get; }
        public long H { get; }
        public long D { get; }
        public long[] State { get; }
        public string ZeroStep { get; }
        public string Zero { get; }
        public string YSteps { get; }
        public string HPrevSteps { get; }
        public string XSteps { get; }

        public string Reg(string v, params long[] dims)
        {
            _c.S.Set(v, dims, _c.T);
            return v;
        }

        /// <summary>Time order to step order and back: the reverse direction's time axis flipped.</summary>
        public string ToggleOrder(string v, long[] dims)
        {
            if (D == 1 && !_reverse) return v;
            if (D == 1) return Reg(_e.Op("Slice", [v, _e.I64(-1), _e.I64(long.MinValue), _e.I64(0), _e.I64(-1)]), dims);
            var fwdPart = _e.Op("Slice", [v, _e.I64(0), _e.I64(1), _e.I64(1)]);
            var revPart = _e.Op("Slice", [_e.Op("Slice", [v, _e.I64(1), _e.I64(2), _e.I64(1)]), _e.I64(-1), _e.I64(long.MinValue), _e.I64(0), _e.I64(-1)]);
            return Reg(_e.Op("Concat", [fwdPart, revPart], Attr.Int("axis", 1)), dims);
        }

        /// <summary>A step-ordered [T, D, N, H] value shifted one step later, <paramref name="first"/> ([1, D, N, H]) first.</summary>
        public string Previous(string stepsValue, string first) => Steps == 1 ? first
            : Reg(_e.Op("Concat", [first, _e.Op("Slice", [stepsValue, _e.I64(0), _e.I64(Steps - 1), _e.I64(0)])], Attr.Int("axis", 0)), Steps, D, -1, H);

        /// <summary>Y's gradient in step order, or zeros when no gradient reaches Y.</summary>
        public string DySteps() => _c.Dy(0) is { } dy ? ToggleOrder(dy, [Steps, D, -1, H]) : Reg(_e.Zeros([Steps, D, -1, H], YSteps, _c.T), Steps, D, -1, H);

        /// <summary>XP = X W^T + Wb and HP = H_prev R^T + Rb in step order, [T, D, N, gates H] each.</summary>
        public (string Xp, string Hp) Projections()
        {
            long g = _gates * H;
            var xp = _e.Op("MatMul", [XSteps, _e.Op("Transpose", [_c.In(1)], Attr.Ints("perm", 0, 2, 1))]);
            var hp = _e.Op("MatMul", [HPrevSteps, _e.Op("Transpose", [_c.In(2)], Attr.Ints("perm", 0, 2, 1))]);
            if (_c.In(3).Length > 0)
            {
                var parts = _e.B.OpMulti("Split", [_c.In(3), _e.I64(g, g)], 2, Attr.Int("axis", 1));
                xp = _e.Op("Add", [xp, _e.Op("Unsqueeze", [parts[0], _e.I64(1)])]); // [D, 1, gH]
                hp = _e.Op("Add", [hp, _e.Op("Unsqueeze", [parts[1], _e.I64(1)])]);
            }
            return (Reg(xp, Steps, D, -1, g), Reg(hp, Steps, D, -1, g));
        }

        /// <summary>Rows (step, sample) per direction of a step-ordered [T, D, N, width] value: [D, T*N, width].</summary>
        public string Rows(string v, long width) => _e.Op("Reshape", [D == 1 ? v : _e.Op("Transpose", [v], Attr.Ints("perm", 1, 0, 2, 3)), _e.I64(D, -1, width)]);

        /// <summary><see cref="Rows"/> transposed, [D, width, T*N] (ORT fuses the transpose into the MatMul that reads it).</summary>
        public string RowsT(string v, long width) => _e.Op("Transpose", [Rows(v, width)], Attr.Ints("perm", 0, 2, 1));

        /// <summary>XP + HP (the LSTM's gate pre-activations).</summary>
        public string Preactivations()
        {
            var (xp, hp) = Projections();
            return Reg(_e.Op("Add", [xp, hp]), Steps, D, -1, _gates * H);
        }

        /// <summary>
        /// dX = sum_d gx W, dW = gx^T X, dR = gh^T H_prev, dB = [sum gx, sum gh] over all steps and samples, from the
        /// step-ordered gradients of the input projections (<paramref name="gx"/>) and recurrent ones (<paramref name="gh"/>).
        /// </summary>
        public void AddWeightGradients(string gx, string gh, bool recurrent = true)
        {
            var c = _c;
            long g = _gates * H;
            if (c.Needs(0)) // [T, D, N, gH] x [D, gH, I] -> [T, D, N, I] (small) -> time order -> sum over D
                c.Add(0, Reg(_e.Op("ReduceSum", [ToggleOrder(Reg(_e.Op("MatMul", [gx, c.In(1)]), Steps, D, -1, Inputs), [Steps, D, -1, Inputs]), _e.I64(1)],
                    Attr.Int("keepdims", 0)), Steps, -1, Inputs));
            var gxRowsT = RowsT(gx, g);
            var ghRowsT = gx == gh ? gxRowsT : RowsT(gh, g);
            if (c.Needs(1)) c.Add(1, Reg(_e.Op("MatMul", [gxRowsT, Rows(XSteps, Inputs)]), D, g, Inputs));
            if (recurrent && c.Needs(2)) c.Add(2, Reg(_e.Op("MatMul", [ghRowsT, Rows(HPrevSteps, H)]), D, g, H));
            if (c.Needs(3))
            {
                var bx = _e.Op("ReduceSum", [gx, _e.I64(0, 2)], Attr.Int("keepdims", 0)); // [D, gH]
                var bh = gx == gh ? bx : _e.Op("ReduceSum", [gh, _e.I64(0, 2)], Attr.Int("keepdims", 0));
                c.Add(3, Reg(_e.Op("Concat", [bx, bh], Attr.Int("axis", 1)), D, 2 * g));
            }
        }
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
