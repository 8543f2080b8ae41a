using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Autodiff;

internal static partial class GradientRules
{
    /// <summary>Reshape, Flatten, Squeeze, Unsqueeze: dX = Reshape(dY, shape of X).</summary>
    private static void ReshapeLike(RuleContext c)
    {
        if (c.Needs(0)) c.Add(0, c.E.ReshapeTo(c.Dy0, c.Dims(c.In(0)), c.In(0)));
    }

    private static void Transpose(RuleContext c)
    {
        if (!c.Needs(0)) return;
        int r = c.Dims(c.In(0)).Length;
        var perm = c.Node.GetInts("perm") ?? Enumerable.Range(0, r).Reverse().Select(i => (long)i).ToArray();
        var inv = new long[r];
        for (int i = 0; i < r; i++) inv[perm[i]] = i;
        c.Add(0, c.E.Transpose(c.Dy0, inv));
    }

    private static void Concat(RuleContext c)
    {
        int k = c.Node.Input.Count;
        if (!Enumerable.Range(0, k).Any(c.Needs)) return;
        int r = c.Dims(c.Out(0)).Length;
        long axis = c.Node.GetInt("axis", 0);
        if (axis < 0) axis += r;
        var sizes = Enumerable.Range(0, k).Select(i => c.Dims(c.In(i))[axis]).ToArray();
        if (sizes.Any(s => s < 0)) throw c.Unsupported($"Concat along axis {axis}, whose size depends on the batch, is not supported");
        var parts = c.E.B.OpMulti("Split", [c.Dy0, c.E.I64(sizes)], k, Attr.Int("axis", axis));
        for (int i = 0; i < k; i++) if (c.Needs(i)) c.Add(i, parts[i]);
    }

    /// <summary>Slice: dY placed into zeros of X's shape (Pad for unit steps, ScatterElements per axis otherwise).</summary>
    private static void Slice(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var xd = c.Dims(c.In(0));
        int r = xd.Length;
        var starts = c.E.TryConstInt64(c.In(1)) ?? throw c.Unsupported("Slice starts must be constant");
        var ends = c.E.TryConstInt64(c.In(2)) ?? throw c.Unsupported("Slice ends must be constant");
        var axes = c.In(3).Length > 0 ? c.E.TryConstInt64(c.In(3)) ?? throw c.Unsupported("Slice axes must be constant") : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        var steps = c.In(4).Length > 0 ? c.E.TryConstInt64(c.In(4)) ?? throw c.Unsupported("Slice steps must be constant") : Enumerable.Repeat(1L, starts.Length).ToArray();
        var plan = new List<(int Axis, long[] Positions, long Start, long Step)>();
        for (int j = 0; j < starts.Length; j++)
        {
            int ax = (int)(axes[j] < 0 ? axes[j] + r : axes[j]);
            long dim = xd[ax];
            if (dim < 0) throw c.Unsupported($"Slice along axis {ax}, whose size depends on the batch, is not supported");
            long step = steps[j], s = starts[j], e = ends[j];
            if (step == 0) throw c.Unsupported("Slice step 0");
            if (s < 0) s += dim;
            if (e < 0 && e > long.MinValue / 2) e += dim;
            if (step > 0) { s = Math.Clamp(s, 0, dim); e = Math.Clamp(e, 0, dim); }
            else { s = Math.Clamp(s, 0, dim - 1); e = Math.Clamp(e, -1, dim - 1); }
            var pos = new List<long>();
            for (long p = s; step > 0 ? p < e : p > e; p += step) pos.Add(p);
            plan.Add((ax, pos.ToArray(), s, step));
        }
        var cur = c.Dy0;
        var curDims = c.Dims(c.Out(0));
        if (plan.All(p => p.Step == 1))
        {
            var pads = new long[2 * r];
            foreach (var p in plan)
            {
                pads[p.Axis] = p.Positions.Length == 0 ? 0 : p.Positions[0];
                pads[r + p.Axis] = xd[p.Axis] - pads[p.Axis] - p.Positions.Length;
            }
            c.Add(0, c.E.Op("Pad", [cur, c.E.I64(pads)]));
            return;
        }
        foreach (var p in plan)
        {
            var target = (long[])curDims.Clone();
            target[p.Axis] = xd[p.Axis];
            var idxShape = Enumerable.Repeat(1L, r).ToArray();
            idxShape[p.Axis] = p.Positions.Length;
            var idx = c.E.B.Initializer(Tensors.Int64("ad_slice_idx", idxShape, p.Positions));
            var idxFull = c.E.Op("Expand", [idx, c.E.Op("Shape", [cur])]);
            var zeros = c.E.Zeros(target, c.In(0), c.T);
            cur = c.E.Op("ScatterElements", [zeros, idxFull, cur], Attr.Int("axis", p.Axis));
            curDims = target;
        }
        c.Add(0, cur);
    }

    /// <summary>Pad (constant mode, non-negative constant pads, optional axes): dX = Slice of dY at X's position.</summary>
    private static void Pad(RuleContext c)
    {
        if (!c.Needs(0)) return;
        if (c.Node.GetString("mode", "constant") != "constant") throw c.Unsupported("only Pad mode 'constant' is supported");
        var xd = c.Dims(c.In(0));
        int r = xd.Length;
        var pads = c.Node.GetInts("pads") ?? (c.In(1).Length > 0 ? c.E.TryConstInt64(c.In(1)) : null) ?? throw c.Unsupported("Pad pads must be constant");
        var axes = c.In(3).Length > 0 ? c.E.TryConstInt64(c.In(3)) ?? throw c.Unsupported("Pad axes must be constant") : Enumerable.Range(0, r).Select(i => (long)i).ToArray();
        if (pads.Any(p => p < 0)) throw c.Unsupported("negative Pad pads (cropping) are not supported");
        var sliceAxes = new List<long>(); var starts = new List<long>(); var ends = new List<long>();
        for (int j = 0; j < axes.Length; j++)
        {
            long ax = axes[j] < 0 ? axes[j] + r : axes[j];
            long begin = pads[j], end = pads[j + axes.Length];
            if (begin == 0 && end == 0) continue;
            sliceAxes.Add(ax); starts.Add(begin);
            ends.Add(xd[ax] >= 0 ? begin + xd[ax] : -end);
            if (xd[ax] < 0 && end == 0) ends[^1] = long.MaxValue;
        }
        c.Add(0, sliceAxes.Count == 0 ? c.Dy0 : c.E.Op("Slice", [c.Dy0, c.E.I64(starts.ToArray()), c.E.I64(ends.ToArray()), c.E.I64(sliceAxes.ToArray())]));
    }

    /// <summary>ReduceSum / ReduceMean: dY (axes re-inserted, divided by the count for the mean) expanded to X's shape.</summary>
    private static void ReduceSumMean(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var x = c.In(0);
        var xd = c.Dims(x);
        int r = xd.Length;
        long[]? axes = c.Node.GetInts("axes");
        if (axes is null && c.In(1).Length > 0)
            axes = c.E.TryConstInt64(c.In(1)) ?? throw c.Unsupported("reduction axes must be constant");
        if (axes is null || axes.Length == 0)
        {
            if (c.Node.GetInt("noop_with_empty_axes", 0) != 0) { c.Add(0, c.Dy0); return; }
            axes = Enumerable.Range(0, r).Select(i => (long)i).ToArray();
        }
        axes = axes.Select(a => a < 0 ? a + r : a).ToArray();
        var keep = (long[])xd.Clone();
        foreach (var a in axes) keep[a] = 1;
        var g = c.Dy0;
        if (c.Node.GetInt("keepdims", 1) == 0) g = c.E.ReshapeTo(g, keep, x);
        if (c.Node.OpType == "ReduceMean")
        {
            if (axes.All(a => xd[a] >= 0))
                g = c.E.Scale(g, 1.0 / axes.Aggregate(1L, (p, a) => p * xd[a]), c.T);
            else
            {
                var count = c.E.Op("Div", [c.E.Op("Size", [x]), c.E.Op("Size", [c.Out(0)])]);
                g = c.E.Op("Div", [g, c.E.Op("Cast", [count], Attr.Int("to", (long)c.T))]);
            }
        }
        c.Add(0, c.E.ExpandTo(g, keep, xd, x));
    }
}
