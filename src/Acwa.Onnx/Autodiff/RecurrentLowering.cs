using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Autodiff;

/// <summary>
/// Unrolls LSTM, GRU and RNN nodes (what torch.onnx exports for nn.LSTM, nn.GRU and nn.RNN) over their fixed number of
/// time steps into MatMul, Add, Split, Sigmoid, Tanh and Mul nodes, whose gradient rules then give backpropagation
/// through time. ONNX's equations, gate order and bias layout (LSTM: gates i, o, f, c; GRU: z, r, h):
/// <code>
/// LSTM: i, o, f = sigmoid(x W^T + h R^T + Wb + Rb); c~ = tanh(...); C = f C' + i c~; H = o tanh(C)
/// RNN:  H = tanh(x W^T + h R^T + Wb + Rb)   (or relu: nn.RNN(nonlinearity='relu'))
/// GRU:  z, r = sigmoid(...); h~ = tanh(x Wh^T + r (h Rh^T + Rbh) + Wbh)   (linear_before_reset != 0, PyTorch's)
///                            h~ = tanh(x Wh^T + (r h) Rh^T + Rbh + Wbh)   (linear_before_reset = 0)
///       H = (1 - z) h~ + z h'
/// </code>
/// The input projections of all steps and directions are one MatMul; the directions then advance together on a direction
/// axis (step k is time k of a forward direction and time T-1-k of a reverse one), one recurrent MatMul per step for all
/// of them, which halves a bidirectional layer's graph. Directions forward, reverse and bidirectional; optional biases
/// and initial states (zeros made by ConstantOfShape, as torch exports them, are dropped first by
/// <see cref="DropZeroInitialStates"/>: the first step then skips its recurrent terms). Not supported, named in the
/// error: a batch-dependent or unknown number of steps, layout 1 (batch-major; ONNX Runtime's CPU kernels refuse it too),
/// sequence_lens, peepholes, clip, input_forget, other activations. Applied to training graphs, to the nodes that the
/// whole-node gradient rules do not take (<see cref="GradientOptions.FusedRecurrent"/>: on the CPU those rules keep ORT's
/// fused kernels and run backpropagation through time as a Scan; on CUDA everything is unrolled); the evaluation graph and
/// the inference export keep ORT's fused kernels, except that an evaluation graph compiled for CUDA unrolls the nodes that
/// ORT's CUDA provider hands to the CPU (<see cref="CudaRunsFused"/>: e.g. nn.RNN(nonlinearity='relu')).
/// </summary>
internal static class RecurrentLowering
{
    /// <summary>
    /// Unrolls every LSTM, GRU and RNN of <paramref name="b"/>'s graph in place (only those <paramref name="which"/>
    /// accepts, when given); returns how many. New values' shapes go into <paramref name="shapes"/>.
    /// </summary>
    public static int Apply(GraphBuilder b, ShapeTable shapes, Func<NodeProto, bool>? which = null)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(shapes);
        DropZeroInitialStates(b.Graph); // an absent initial state lets the first step skip its recurrent terms
        int lowered = 0;
        foreach (var n in b.Graph.Node.Where(n => IsRecurrent(n) && (which is null || which(n))).ToList())
        {
            int index = b.Graph.Node.IndexOf(n), before = b.Graph.Node.Count;
            new Unroller(b, shapes, n).Emit();
            b.MoveAppendedTo(before, index);
            b.Graph.Node.Remove(n);
            lowered++;
        }
        return lowered;
    }

    /// <summary>
    /// Empties the initial-state inputs of LSTM, GRU and RNN nodes that are zeros made by ConstantOfShape (directly or
    /// through Slice, Gather, Squeeze, Unsqueeze, Reshape, Expand, Identity: torch exports nn.LSTM's default state as
    /// ConstantOfShape([layers x directions, N, H]) sliced per layer), which ONNX defines as the same zeros, and removes
    /// the Shape arithmetic that only fed them (on CUDA it would run on the host). Returns how many inputs were emptied.
    /// Applied to the training and evaluation graphs (ForwardShapeFolding.FoldForward); the inference export keeps the
    /// model's own nodes.
    /// </summary>
    public static int DropZeroInitialStates(GraphProto g)
    {
        ArgumentNullException.ThrowIfNull(g);
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var m in g.Node) foreach (var o in m.Output) if (o.Length > 0) producers[o] = m;
        bool Zeros(string v)
        {
            while (producers.TryGetValue(v, out var p))
            {
                if (p.OpType == "ConstantOfShape")
                {
                    var value = p.Attribute.FirstOrDefault(a => a.Name == "value")?.T;
                    return value is null || (value.DataType == (int)ElementType.Float && Tensors.ToFloats(value).All(x => x == 0));
                }
                if (p.OpType is not ("Slice" or "Gather" or "Squeeze" or "Unsqueeze" or "Reshape" or "Expand" or "Identity") || p.Input.Count == 0) return false;
                v = p.Input[0];
            }
            return false;
        }
        int dropped = 0;
        var released = new List<string>();
        foreach (var n in g.Node.Where(IsRecurrent).ToList())
            foreach (int i in n.OpType == "LSTM" ? new[] { 5, 6 } : [5])
                if (n.Input.Count > i && n.Input[i].Length > 0 && Zeros(n.Input[i]))
                {
                    released.Add(n.Input[i]);
                    n.Input[i] = "";
                    dropped++;
                }
        GraphPruning.RemoveDeadProducers(g, released);
        return dropped;
    }

    private static bool IsRecurrent(NodeProto n) => n.OpType is "LSTM" or "GRU" or "RNN" && n.Domain is "" or "ai.onnx";

    /// <summary>
    /// Whether ONNX Runtime's CUDA provider runs <paramref name="n"/> (an LSTM, GRU or RNN) with its cuDNN kernel rather
    /// than handing it to the CPU provider: cuDNN takes only the default activations (LSTM sigmoid/tanh/tanh, GRU
    /// sigmoid/tanh, RNN tanh), no activation_alpha, activation_beta or clip, no LSTM input_forget or peepholes, and GRU
    /// only with linear_before_reset = 1 (PyTorch's). The same conditions as ORT's CUDA capability check; on a CUDA
    /// evaluation graph the other nodes are unrolled (with CPU fallback disabled, ORT would refuse the session).
    /// </summary>
    public static bool CudaRunsFused(NodeProto n)
    {
        ArgumentNullException.ThrowIfNull(n);
        if (!IsRecurrent(n)) throw new ArgumentException($"node '{n.Name}' is a {n.OpType}, not an LSTM, GRU or RNN", nameof(n));
        if (!PlainActivations(n)) return false;
        if (n.OpType == "LSTM" && (n.GetInt("input_forget", 0) != 0 || (n.Input.Count > 7 && n.Input[7].Length > 0))) return false;
        return n.OpType != "GRU" || n.GetInt("linear_before_reset", 0) == 1;
    }

    /// <summary>
    /// Whether <paramref name="n"/> (an LSTM, GRU or RNN) uses its op's default activations (LSTM sigmoid/tanh/tanh, GRU
    /// sigmoid/tanh, RNN tanh, per direction; an absent attribute means them) with no activation_alpha, activation_beta or
    /// clip: the forms that cuDNN and the whole-node gradient rules take.
    /// </summary>
    internal static bool PlainActivations(NodeProto n)
    {
        string[] defaults = n.OpType switch
        {
            "LSTM" => ["sigmoid", "tanh", "tanh"],
            "GRU" => ["sigmoid", "tanh"],
            _ => ["tanh"],
        };
        return !n.Attribute.Any(a => a.Name is "activation_alpha" or "activation_beta" or "clip"
            || (a.Name == "activations" && a.Strings.Select((v, i) => v.ToStringUtf8().ToLowerInvariant() != defaults[i % defaults.Length]).Any(bad => bad)));
    }

    private sealed class Unroller(GraphBuilder b, ShapeTable shapes, NodeProto n)
    {
        private readonly bool _lstm = n.OpType == "LSTM", _rnn = n.OpType == "RNN";
        private string _rnnActivation = "Tanh";
        private ElementType _t;
        private long _h, _steps;
        private int _gates;

        private NotSupportedException Bad(string why) => new($"node '{n.Name}' ({n.OpType}): {why}");

        private string In(int i) => n.Input.Count > i ? n.Input[i] : "";

        private string Reg(string v, params long[] dims)
        {
            shapes.Set(v, dims, _t);
            return v;
        }

        private string Op(string type, IReadOnlyList<string> inputs, long[] dims, params AttributeProto[] attrs) => Reg(b.Op(type, inputs, attrs), dims);

        private string[] Split(string v, int axis, long[] dims, int parts) => Split(v, axis, dims, Enumerable.Repeat(dims[axis] / parts, parts).ToArray());

        private string[] Split(string v, int axis, long[] dims, long[] sizes)
        {
            var outs = b.OpMulti("Split", [v, b.ConstInt64("rnn_split", sizes)], sizes.Length, Attr.Int("axis", axis));
            for (int i = 0; i < outs.Length; i++)
            {
                var pd = (long[])dims.Clone();
                pd[axis] = sizes[i];
                Reg(outs[i], pd);
            }
            return outs;
        }

        /// <summary>
        /// <paramref name="v"/> with its time axis (0) reversed for the directions that run backwards: all of it for
        /// "reverse", direction 1 (axis 1) for "bidirectional", nothing for "forward". <paramref name="dims"/> are [T, D, ...].
        /// </summary>
        private string TimeOrder(string v, long[] dims, string direction)
        {
            string Reverse(string u, long[] ud) => Op("Slice", [u, b.ConstInt64("rnn_rev_start", -1), b.ConstInt64("rnn_rev_end", long.MinValue),
                b.ConstInt64("rnn_ax0", 0), b.ConstInt64("rnn_rev_step", -1)], ud);
            if (direction == "forward") return v;
            if (direction == "reverse") return Reverse(v, dims);
            long[] one = [dims[0], 1, .. dims[2..]];
            var parts = Split(v, 1, dims, 2);
            return Op("Concat", [parts[0], Reverse(parts[1], one)], dims, Attr.Int("axis", 1));
        }

        public void Emit()
        {
            if (!shapes.TryGet(In(0), out var xd) || xd.Length != 3) throw Bad($"input X '{In(0)}' needs a known rank-3 shape");
            _t = shapes.TypeOf(In(0));
            if (n.GetInt("layout", 0) != 0) throw Bad("layout 1 (batch-major X) is not supported (ONNX Runtime's CPU kernels refuse it too)");
            _steps = xd[0];
            long batch = xd[1], inputSize = xd[2];
            if (_steps <= 0) throw Bad($"the number of time steps of X [{string.Join(", ", xd)}] must be fixed to unroll it for training");
            if (In(4).Length > 0) throw Bad("sequence_lens is not supported for training (pad the sequences and mask instead)");
            if (_lstm && In(7).Length > 0) throw Bad("peephole weights (input P) are not supported for training");
            if (n.Attribute.Any(a => a.Name == "clip")) throw Bad("the clip attribute is not supported for training");
            if (n.GetInt("input_forget", 0) != 0) throw Bad("input_forget is not supported for training");
            var acts = n.Attribute.FirstOrDefault(a => a.Name == "activations")?.Strings.Select(s => s.ToStringUtf8()).ToList();
            string[] defaults = _lstm ? ["Sigmoid", "Tanh", "Tanh"] : _rnn ? ["Tanh"] : ["Sigmoid", "Tanh"];
            // A plain RNN may use Relu (nn.RNN(nonlinearity='relu')), the same in both directions.
            if (_rnn && acts is { Count: > 0 } && acts.All(a => a.Equals("Relu", StringComparison.OrdinalIgnoreCase))) (defaults, _rnnActivation) = (["Relu"], "Relu");
            if (acts is { Count: > 0 } && !acts.SequenceEqual(defaults.Concat(acts.Count > defaults.Length ? defaults : []), StringComparer.OrdinalIgnoreCase))
                throw Bad($"activations [{string.Join(", ", acts)}] are not supported for training (only the defaults {string.Join(", ", defaults)}{(_rnn ? ", or Relu" : "")})");
            string direction = n.GetString("direction", "forward");
            if (direction is not ("forward" or "reverse" or "bidirectional")) throw Bad($"unknown direction '{direction}'");
            long dirs = direction == "bidirectional" ? 2 : 1;
            _gates = _lstm ? 4 : _rnn ? 1 : 3;
            if (!shapes.TryGet(In(1), out var wd) || wd.Length != 3 || wd[1] % _gates != 0) throw Bad($"W '{In(1)}' needs a known shape [D, {_gates}H, I]");
            _h = wd[1] / _gates;
            long gh = _gates * _h;

            // The directions advance together on a direction axis: step k is time k of a forward direction and time T-1-k of
            // a reverse one, one recurrent MatMul [1, D, N, H] x [D, H, G H] per step for all directions.
            string? wb = null, rb = null; // [D, 1, G H]: broadcast over [.., D, N, G H]
            if (In(3).Length > 0)
            {
                var wr = Split(Op("Unsqueeze", [In(3), b.ConstInt64("rnn_ax1", 1)], [dirs, 1, 2 * gh]), 2, [dirs, 1, 2 * gh], 2);
                (wb, rb) = (wr[0], wr[1]);
            }
            // All steps' input projections at once, for all directions: [T, N, I] x [I, D G H] (one 2-D weight, so its
            // gradient is one Gemm over all T N rows), viewed as [T, N, D, G H] and moved to [T, D, N, G H] (+ Wb, and Rb
            // where it is not inside a gate), then put in each direction's own time order.
            long[] pd = [_steps, dirs, batch, gh];
            var wAll = Op("Transpose", [Op("Reshape", [In(1), b.ConstInt64("rnn_w_rows", dirs * gh, inputSize)], [dirs * gh, inputSize])],
                [inputSize, dirs * gh], Attr.Ints("perm", 1, 0));
            var flat = Op("MatMul", [In(0), wAll], [_steps, batch, dirs * gh]);
            var proj = Op("Transpose", [Op("Reshape", [flat, b.ConstInt64("rnn_proj_view", _steps, -1, dirs, gh)], [_steps, batch, dirs, gh])],
                pd, Attr.Ints("perm", 0, 2, 1, 3));
            if (wb is not null) proj = Op("Add", [proj, wb], pd);
            if (n.OpType != "GRU" && rb is not null) proj = Op("Add", [proj, rb], pd);
            var steps = Split(TimeOrder(proj, pd, direction), 0, pd, (int)_steps);
            long[] sd = [1, dirs, batch, _h];
            string? h = In(5).Length == 0 ? null : Op("Unsqueeze", [In(5), b.ConstInt64("rnn_ax0", 0)], sd);
            string? c = _lstm && In(6).Length > 0 ? Op("Unsqueeze", [In(6), b.ConstInt64("rnn_ax0", 0)], sd) : null;
            var rt = Op("Transpose", [In(2)], [dirs, _h, gh], Attr.Ints("perm", 0, 2, 1));
            // GRU: Rb per gate, split once (the first step's recurrent terms, and Rbh outside the reset for linear_before_reset 0)
            string[]? rbParts = n.OpType == "GRU" && rb is not null ? Split(rb, 2, [dirs, 1, gh], 3) : null;
            var outs = new string[_steps];
            for (long k = 0; k < _steps; k++)
            {
                if (_lstm) (h, c) = LstmStep(steps[k], h, c, rt, sd);
                else if (_rnn) h = Op(_rnnActivation, [h is null ? steps[k] : Op("Add", [steps[k], Op("MatMul", [h, rt], sd)], sd)], sd);
                else h = GruStep(steps[k], h, rt, rb, rbParts, sd);
                outs[k] = h;
            }
            WriteOutputs(outs, h!, c, sd, direction);
        }

        private (string H, string C) LstmStep(string xt, string? h, string? c, string rt, long[] sd)
        {
            long[] gd = [.. sd[..3], _gates * _h];
            var gates = h is null ? xt : Op("Add", [xt, Op("MatMul", [h, rt], gd)], gd);
            // i, o, f are contiguous: one Sigmoid over them, one Tanh over c.
            var g = Split(gates, 3, gd, [3 * _h, _h]);
            long[] iofd = [.. sd[..3], 3 * _h];
            var iof = Split(Op("Sigmoid", [g[0]], iofd), 3, iofd, 3);
            var ic = Op("Mul", [iof[0], Op("Tanh", [g[1]], sd)], sd);
            var next = c is null ? ic : Op("Add", [Op("Mul", [iof[2], c], sd), ic], sd);
            return (Op("Mul", [iof[1], Op("Tanh", [next], sd)], sd), next);
        }

        private string GruStep(string xt, string? h, string rt, string? rb, string[]? rbParts, long[] sd)
        {
            bool lbr = n.GetInt("linear_before_reset", 0) != 0;
            long[] gd = [.. sd[..3], 3 * _h];
            var xg = Split(xt, 3, gd, 3); // z, r, h
            // recurrent parts h R^T + Rb, per gate (Rb alone before the first state)
            string[]? rg = h is null ? rbParts
                : Split(rb is null ? Op("MatMul", [h, rt], gd) : Op("Add", [Op("MatMul", [h, rt], gd), rb], gd), 3, gd, 3);
            var z = Op("Sigmoid", [rg is null ? xg[0] : Op("Add", [xg[0], rg[0]], sd)], sd);
            var reset = Op("Sigmoid", [rg is null ? xg[1] : Op("Add", [xg[1], rg[1]], sd)], sd);
            string hidden;
            if (lbr || h is null)
                // linear_before_reset: r (h Rh^T + Rbh); with no previous state both forms leave r Rbh (lbr) or Rbh.
                hidden = rg is null ? xg[2] : Op("Add", [xg[2], lbr ? Op("Mul", [reset, rg[2]], sd) : rg[2]], sd);
            else
            {
                var rh = Op("Slice", [rt, b.ConstInt64("rnn_h0", 2 * _h), b.ConstInt64("rnn_h1", 3 * _h), b.ConstInt64("rnn_ax2", 2)], [sd[1], _h, _h]);
                var term = Op("MatMul", [Op("Mul", [reset, h], sd), rh], sd);
                if (rbParts is not null) term = Op("Add", [term, rbParts[2]], sd);
                hidden = Op("Add", [xg[2], term], sd);
            }
            var cand = Op("Tanh", [hidden], sd);
            // H = (1 - z) h~ + z h' = h~ + z (h' - h~)
            return h is null
                ? Op("Sub", [cand, Op("Mul", [z, cand], sd)], sd)
                : Op("Add", [cand, Op("Mul", [z, Op("Sub", [h, cand], sd)], sd)], sd);
        }

        private void WriteOutputs(string[] steps, string lastH, string? lastC, long[] sd, string direction)
        {
            void Name(int output, string value)
            {
                if (n.Output.Count > output && n.Output[output].Length > 0)
                {
                    // The node's own output name (still held by the node, which is removed after this) goes to an Identity.
                    b.Op("Identity", [value]);
                    b.Graph.Node[^1].Output[0] = n.Output[output];
                    shapes.Set(n.Output[output], shapes[value], _t);
                }
            }
            long[] last = sd[1..]; // [D, N, H]
            if (n.Output.Count > 0 && n.Output[0].Length > 0)
            {
                // Y [T, D, N, H]: the steps stacked in processing order, then each direction put back in time order.
                long[] yd = [_steps, .. last];
                var stacked = steps.Length == 1 ? steps[0] : Op("Concat", steps, yd, Attr.Int("axis", 0));
                Name(0, TimeOrder(stacked, yd, direction));
            }
            // The last step holds each direction's final state (time T-1 forward, time 0 reverse): Y_h [D, N, H].
            if (n.Output.Count > 1 && n.Output[1].Length > 0) Name(1, Op("Squeeze", [lastH, b.ConstInt64("rnn_ax0", 0)], last));
            if (_lstm && n.Output.Count > 2 && n.Output[2].Length > 0) Name(2, Op("Squeeze", [lastC!, b.ConstInt64("rnn_ax0", 0)], last));
        }
    }
}
