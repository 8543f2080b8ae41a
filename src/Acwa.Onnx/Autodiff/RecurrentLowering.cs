using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Autodiff;

/// <summary>
/// Unrolls LSTM, GRU and RNN nodes (what torch.onnx exports for nn.LSTM, nn.GRU and nn.RNN) over their fixed number of time steps into
/// MatMul, Add, Split, Sigmoid, Tanh and Mul nodes, whose gradient rules then give backpropagation through time. ONNX's
/// equations, gate order and bias layout (LSTM: gates i, o, f, c; GRU: z, r, h with either linear_before_reset):
/// <code>
/// LSTM: i, o, f = sigmoid(x W^T + h R^T + Wb + Rb); c~ = tanh(...); C = f C' + i c~; H = o tanh(C)
/// RNN:  H = tanh(x W^T + h R^T + Wb + Rb)   (or relu: nn.RNN(nonlinearity='relu'))
/// GRU:  z, r = sigmoid(...); h~ = tanh(x Wh^T + r (h Rh^T + Rbh) + Wbh)   (linear_before_reset != 0, PyTorch's)
///                            h~ = tanh(x Wh^T + (r h) Rh^T + Rbh + Wbh)   (linear_before_reset = 0)
///       H = (1 - z) h~ + z h'
/// </code>
/// The input projections of all steps are one MatMul; each step adds its recurrent MatMul. Directions forward, reverse
/// and bidirectional; optional biases and initial states (zeros made by ConstantOfShape, as torch exports them, are
/// dropped first by <see cref="DropZeroInitialStates"/>: the first step then skips its recurrent terms). Not supported, named in the error: a
/// batch-dependent or unknown number of steps, layout 1 (batch-major; ONNX Runtime's CPU kernels refuse it too),
/// sequence_lens, peepholes, clip, input_forget, other activations. Applied to training graphs; the evaluation graph and the inference export keep
/// ORT's fused LSTM / GRU kernels.
/// </summary>
public static class RecurrentLowering
{
    /// <summary>Unrolls every LSTM and GRU of <paramref name="b"/>'s graph in place; returns how many. New values' shapes go into <paramref name="shapes"/>.</summary>
    public static int Apply(GraphBuilder b, ShapeTable shapes)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(shapes);
        DropZeroInitialStates(b.Graph); // an absent initial state lets the first step skip its recurrent terms
        int lowered = 0;
        foreach (var n in b.Graph.Node.Where(n => n.OpType is "LSTM" or "GRU" or "RNN" && n.Domain is "" or "ai.onnx").ToList())
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
    /// Applied to every graph the compiler writes (training, evaluation, inference export).
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
        foreach (var n in g.Node.Where(n => n.OpType is "LSTM" or "GRU" or "RNN" && n.Domain is "" or "ai.onnx").ToList())
            foreach (int i in n.OpType == "LSTM" ? new[] { 5, 6 } : [5])
                if (n.Input.Count > i && n.Input[i].Length > 0 && Zeros(n.Input[i]))
                {
                    released.Add(n.Input[i]);
                    n.Input[i] = "";
                    dropped++;
                }
        RemoveUnusedProducers(g, released);
        return dropped;
    }

    private static void RemoveUnusedProducers(GraphProto g, IEnumerable<string> released)
    {
        var outputs = new HashSet<string>(g.Output.Select(v => v.Name), StringComparer.Ordinal);
        bool Unused(string value) => !outputs.Contains(value) && !g.Node.Any(m => m.Input.Contains(value));
        var pending = new Stack<string>(released);
        while (pending.Count > 0)
        {
            var value = pending.Pop();
            var p = g.Node.FirstOrDefault(m => m.Output.Contains(value));
            if (p is null || !p.Output.Where(o => o.Length > 0).All(Unused)) continue;
            g.Node.Remove(p);
            foreach (var i in p.Input.Where(i => i.Length > 0)) pending.Push(i);
        }
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

        /// <summary>Direction d's slice of a [D, ...] tensor, keeping a leading axis of 1 (<paramref name="keep"/>) or not.</summary>
        private string Direction(string v, int d, long[] rest, bool keep = false)
        {
            var slice = Op("Slice", [v, b.ConstInt64("rnn_d0", d), b.ConstInt64("rnn_d1", d + 1), b.ConstInt64("rnn_ax0", 0)], [1, .. rest]);
            return keep ? slice : Op("Squeeze", [slice, b.ConstInt64("rnn_ax0", 0)], rest);
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
            int dirs = direction == "bidirectional" ? 2 : 1;
            if (direction is not ("forward" or "reverse" or "bidirectional")) throw Bad($"unknown direction '{direction}'");
            _gates = _lstm ? 4 : _rnn ? 1 : 3;
            if (!shapes.TryGet(In(1), out var wd) || wd.Length != 3 || wd[1] % _gates != 0) throw Bad($"W '{In(1)}' needs a known shape [D, {_gates}H, I]");
            _h = wd[1] / _gates;
            long gh = _gates * _h;

            var x = In(0);
            var hs = new List<string[]>();
            var finals = new List<(string H, string? C)>();
            for (int d = 0; d < dirs; d++)
            {
                bool reverse = direction == "reverse" || d == 1;
                var w = Direction(In(1), d, [gh, inputSize]);
                var r = Direction(In(2), d, [gh, _h]);
                string? bias = In(3).Length > 0 ? Direction(In(3), d, [2 * gh]) : null;
                string? wb = null, rb = null;
                if (bias is not null) { var wr = Split(bias, 0, [2 * gh], 2); (wb, rb) = (wr[0], wr[1]); }
                // All steps' input projections at once: [T, N, I] x [I, G H] (+ Wb, and Rb where it is not inside a gate).
                var proj = Op("MatMul", [x, Op("Transpose", [w], [inputSize, gh], Attr.Ints("perm", 1, 0))], [_steps, batch, gh]);
                if (wb is not null) proj = Op("Add", [proj, wb], [_steps, batch, gh]);
                if (!n.OpType.Equals("GRU", StringComparison.Ordinal) && rb is not null) proj = Op("Add", [proj, rb], [_steps, batch, gh]);
                // Per-step tensors keep a leading axis of 1 ([1, N, ...]): no Squeeze / Unsqueeze per step, Y is their Concat.
                var steps = Split(proj, 0, [_steps, batch, gh], (int)_steps);
                string? h = In(5).Length == 0 ? null : Direction(In(5), d, [batch, _h], keep: true);
                string? c = _lstm && In(6).Length > 0 ? Direction(In(6), d, [batch, _h], keep: true) : null;
                var rt = Op("Transpose", [r], [_h, gh], Attr.Ints("perm", 1, 0));
                var outs = new string[_steps];
                for (long k = 0; k < _steps; k++)
                {
                    long t = reverse ? _steps - 1 - k : k;
                    if (_lstm) (h, c) = LstmStep(steps[t], h, c, rt, batch);
                    else if (_rnn) h = Op(_rnnActivation, [h is null ? steps[t] : Op("Add", [steps[t], Op("MatMul", [h, rt], [1, batch, _h])], [1, batch, _h])], [1, batch, _h]);
                    else h = GruStep(steps[t], h, r, rt, rb, batch);
                    outs[t] = h;
                }
                hs.Add(outs);
                finals.Add((h!, c));
            }
            WriteOutputs(hs, finals, batch, dirs);
        }

        private (string H, string C) LstmStep(string xt, string? h, string? c, string rt, long batch)
        {
            long gh = _gates * _h;
            long[] gd = [1, batch, _h];
            var gates = h is null ? xt : Op("Add", [xt, Op("MatMul", [h, rt], [1, batch, gh])], [1, batch, gh]);
            // i, o, f are contiguous: one Sigmoid over them, one Tanh over c.
            var g = Split(gates, 2, [1, batch, gh], [3 * _h, _h]);
            var iof = Split(Op("Sigmoid", [g[0]], [1, batch, 3 * _h]), 2, [1, batch, 3 * _h], 3);
            var ic = Op("Mul", [iof[0], Op("Tanh", [g[1]], gd)], gd);
            var next = c is null ? ic : Op("Add", [Op("Mul", [iof[2], c], gd), ic], gd);
            return (Op("Mul", [iof[1], Op("Tanh", [next], gd)], gd), next);
        }

        private string GruStep(string xt, string? h, string r, string rt, string? rb, long batch)
        {
            bool lbr = n.GetInt("linear_before_reset", 0) != 0;
            var xg = Split(xt, 2, [1, batch, 3 * _h], 3); // z, r, h
            string[]? rg = null; // recurrent parts h R^T + Rb, per gate
            if (h is not null || rb is not null)
            {
                var rec = h is null ? null : Op("MatMul", [h, rt], [1, batch, 3 * _h]);
                if (rb is not null) rec = rec is null ? rb : Op("Add", [rec, rb], [1, batch, 3 * _h]);
                rg = rec == rb ? Split(rb!, 0, [3 * _h], 3) : Split(rec!, 2, [1, batch, 3 * _h], 3);
            }
            long[] gd = [1, batch, _h];
            var z = Op("Sigmoid", [rg is null ? xg[0] : Op("Add", [xg[0], rg[0]], gd)], gd);
            var reset = Op("Sigmoid", [rg is null ? xg[1] : Op("Add", [xg[1], rg[1]], gd)], gd);
            string hidden;
            if (lbr || h is null)
                // linear_before_reset: r (h Rh^T + Rbh); with no previous state both forms leave r Rbh (lbr) or Rbh.
                hidden = rg is null ? xg[2] : Op("Add", [xg[2], lbr ? Op("Mul", [reset, rg[2]], gd) : rg[2]], gd);
            else
            {
                var rh = Op("Slice", [r, b.ConstInt64("rnn_h0", 2 * _h), b.ConstInt64("rnn_h1", 3 * _h), b.ConstInt64("rnn_ax0", 0)], [_h, _h]);
                var term = Op("MatMul", [Op("Mul", [reset, h], gd), Op("Transpose", [rh], [_h, _h], Attr.Ints("perm", 1, 0))], gd);
                if (rb is not null) term = Op("Add", [term, Split(rb, 0, [3 * _h], 3)[2]], gd);
                hidden = Op("Add", [xg[2], term], gd);
            }
            var cand = Op("Tanh", [hidden], gd);
            // H = (1 - z) h~ + z h' = h~ + z (h' - h~)
            return h is null
                ? Op("Sub", [cand, Op("Mul", [z, cand], gd)], gd)
                : Op("Add", [cand, Op("Mul", [z, Op("Sub", [h, cand], gd)], gd)], gd);
        }

        private void WriteOutputs(List<string[]> hs, List<(string H, string? C)> finals, long batch, int dirs)
        {
            // values are [1, N, H] (steps, final states) or [T, N, H] (one direction's Y, unsqueezed to [T, 1, N, H] first)
            string Stack(IEnumerable<string> values, int axis, long[] each, long[] stacked)
            {
                var parts = values.Select(v => axis == 0 ? v : Op("Unsqueeze", [v, b.ConstInt64("rnn_axis" + axis, axis)], each)).ToList();
                return parts.Count == 1 ? parts[0] : Op("Concat", parts, stacked, Attr.Int("axis", axis));
            }
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
            if (n.Output.Count > 0 && n.Output[0].Length > 0)
            {
                // Y: [T, D, N, H].
                var perDir = hs.Select(o => Stack(o, 0, [1, batch, _h], [_steps, batch, _h])).ToList();
                Name(0, Stack(perDir, 1, [_steps, 1, batch, _h], [_steps, dirs, batch, _h]));
            }
            string Last(IEnumerable<string> values) => Stack(values, 0, [1, batch, _h], [dirs, batch, _h]);
            if (n.Output.Count > 1 && n.Output[1].Length > 0) Name(1, Last(finals.Select(f => f.H)));
            if (_lstm && n.Output.Count > 2 && n.Output[2].Length > 0) Name(2, Last(finals.Select(f => f.C!)));
        }
    }
}
