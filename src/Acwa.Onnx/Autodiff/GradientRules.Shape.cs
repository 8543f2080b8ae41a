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

    /// <summary>
    /// Slice: dY placed into zeros of X's shape. Unit steps: one Pad. Other steps, per sliced axis: axes with a negative
    /// step are reversed first (Slice with step -1), so that positions ascend; an axis with step s &gt; 1 and k &gt; 1
    /// positions is spread out by Reshape to [.., k, 1, ..], Pad of the new axis to s and Reshape to [.., k s, ..];
    /// then one Slice crops what runs past X's end and one Pad puts the values at their offsets. Every shape is a
    /// constant (0 copies a batch dim, a single -1 is left to Reshape), so no shape arithmetic runs on the host; when
    /// the dims cannot be written so (several batch-dependent axes behind a spread axis), ScatterElements per axis is
    /// used instead.
    /// </summary>
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
        var yd = c.Dims(c.Out(0));
        if (plan.All(p => p.Step == 1))
        {
            var pads = new long[2 * r];
            foreach (var p in plan)
            {
                pads[p.Axis] = p.Positions.Length == 0 ? 0 : p.Positions[0];
                pads[r + p.Axis] = xd[p.Axis] - pads[p.Axis] - p.Positions.Length;
            }
            c.Add(0, c.E.Op("Pad", [c.Dy0, c.E.I64(pads)]));
            return;
        }
        c.Add(0, SliceGradSpread(c, plan, xd, yd) ?? SliceGradScatter(c, plan, xd, yd));
    }

    /// <summary>The Reshape/Pad form of the strided Slice gradient (see <see cref="Slice"/>), or null when a Reshape shape cannot be a constant.</summary>
    private static string? SliceGradSpread(RuleContext c, List<(int Axis, long[] Positions, long Start, long Step)> plan, long[] xd, long[] yd)
    {
        int r = xd.Length;
        // Per axis: the step of the spread (1 = none) and the smallest position.
        var spread = new long[r];
        var first = new long[r];
        var count = new long[r];
        Array.Fill(spread, 1);
        for (int i = 0; i < r; i++) count[i] = yd[i];
        var reversed = new List<long>();
        foreach (var p in plan)
        {
            if (count[p.Axis] != p.Positions.Length) return null;
            if (p.Positions.Length == 0) continue;
            if (p.Step < 0 && p.Positions.Length > 1) reversed.Add(p.Axis);
            first[p.Axis] = p.Positions.Min();
            if (p.Positions.Length > 1) spread[p.Axis] = Math.Abs(p.Step);
        }
        // CPU: a spread of the last axis is a MatMul with the constant 0/1 matrix E [k, k s] (E[j, j s] = 1; exact: one
        // product by 1 plus zeros). ORT's CPU Pad copies runs of one element when it interleaves the innermost axis
        // (see docs/autodiff.md, "Rules", Slice); after the MatMul the other spread axes pad runs of k s elements.
        int last = r - 1;
        bool lastByMatMul = !IsCuda(c.Options) && spread[last] > 1 && count[last] > 1;
        long lastStep = spread[last];
        if (lastByMatMul)
        {
            count[last] *= lastStep;
            spread[last] = 1;
        }
        var spreadAxes = Enumerable.Range(0, r).Where(i => spread[i] > 1).ToArray();
        // Reshape shapes with an inserted axis after each spread axis; dims before the first inserted axis may be copied
        // (0), behind it at most one batch-dependent dim (-1) may remain.
        long[]? ReshapeDims(long[] dims, int firstInserted)
        {
            var res = (long[])dims.Clone();
            int free = 0;
            for (int i = 0; i < res.Length; i++)
            {
                if (i < firstInserted) { if (res[i] < 0) res[i] = 0; continue; }
                if (res[i] == 0) return null; // a fixed 0 would read as "copy"
                if (res[i] < 0) free++;
            }
            return free <= 1 ? res : null;
        }
        string? up = null, down = null;
        if (spreadAxes.Length > 0)
        {
            var split = new List<long>();
            var merged = new List<long>();
            for (int i = 0; i < r; i++)
            {
                split.Add(count[i]);
                if (spread[i] > 1) split.Add(1);
                merged.Add(spread[i] > 1 ? count[i] * spread[i] : count[i]);
            }
            // Both reshapes keep the axes up to the first spread axis at their index (0 may copy them); behind it the
            // axes shift by the inserted ones, so a batch-dependent dim there must be the single -1.
            var splitDims = ReshapeDims(split.ToArray(), spreadAxes[0] + 1);
            var mergedDims = ReshapeDims(merged.ToArray(), spreadAxes[0] + 1);
            if (splitDims is null || mergedDims is null) return null;
            up = c.E.I64(splitDims);
            down = c.E.I64(mergedDims);
        }

        var cur = c.Dy0;
        if (reversed.Count > 0)
            cur = c.E.Op("Slice", [cur, c.E.I64(reversed.Select(_ => -1L).ToArray()), c.E.I64(reversed.Select(_ => long.MinValue).ToArray()),
                c.E.I64(reversed.ToArray()), c.E.I64(reversed.Select(_ => -1L).ToArray())]);
        if (lastByMatMul)
        {
            long k = count[last] / lastStep;
            var e = new double[k * count[last]];
            for (long j = 0; j < k; j++) e[j * count[last] + j * lastStep] = 1;
            cur = c.E.Op("MatMul", [cur, c.E.Const("spread", [k, count[last]], e, c.T)]);
        }
        if (spreadAxes.Length > 0)
        {
            cur = c.E.Op("Reshape", [cur, up!]);
            var pads = new long[2 * (r + spreadAxes.Length)];
            int rr = r + spreadAxes.Length, k = 0;
            for (int i = 0; i < r; i++)
            {
                k++;
                if (spread[i] > 1) { pads[rr + k] = spread[i] - 1; k++; }
            }
            cur = c.E.Op("Reshape", [c.E.Op("Pad", [cur, c.E.I64(pads)]), down!]);
        }
        // Along each planned axis the values now sit at first + j * step (j < count), in a run of length
        // count * spread that may run past X's end: crop it, then pad to X's dim.
        var cropAxes = new List<long>();
        var cropEnds = new List<long>();
        var finalPads = new long[2 * r];
        foreach (var p in plan)
        {
            int a = p.Axis;
            long len = count[a] * spread[a];
            if (first[a] + len > xd[a]) { cropAxes.Add(a); cropEnds.Add(xd[a] - first[a]); len = xd[a] - first[a]; }
            finalPads[a] = first[a];
            finalPads[r + a] = xd[a] - first[a] - len;
        }
        if (cropAxes.Count > 0)
            cur = c.E.Op("Slice", [cur, c.E.I64(new long[cropAxes.Count]), c.E.I64(cropEnds.ToArray()), c.E.I64(cropAxes.ToArray())]);
        return finalPads.All(v => v == 0) ? cur : c.E.Op("Pad", [cur, c.E.I64(finalPads)]);
    }

    /// <summary>The ScatterElements form of the strided Slice gradient: per sliced axis, dY scattered into zeros.</summary>
    private static string SliceGradScatter(RuleContext c, List<(int Axis, long[] Positions, long Start, long Step)> plan, long[] xd, long[] yd)
    {
        int r = xd.Length;
        var cur = c.Dy0;
        var curDims = yd;
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
        return cur;
    }

    /// <summary>
    /// Pad (constant mode, non-negative constant pads, optional axes): dX = Slice of dY at X's position; a trainable
    /// constant_value gets the sum of dY over the padding, sum(dY) - sum(dX).
    /// </summary>
    private static void Pad(RuleContext c)
    {
        if (!c.Needs(0) && !c.Needs(2)) return;
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
        var dx = sliceAxes.Count == 0 ? c.Dy0 : c.E.Op("Slice", [c.Dy0, c.E.I64(starts.ToArray()), c.E.I64(ends.ToArray()), c.E.I64(sliceAxes.ToArray())]);
        if (c.Needs(0)) c.Add(0, dx);
        if (c.Needs(2))
        {
            string SumAll(string v) => c.E.Op("ReduceSum", [v], Attr.Int("keepdims", 0));
            c.Add(2, c.E.ReshapeTo(c.E.Op("Sub", [SumAll(c.Dy0), SumAll(dx)]), c.Dims(c.In(2)), c.In(2)));
        }
    }

    /// <summary>
    /// A reduction's axes (attribute, or constant input from opset 18), non-negative; all axes when none are given, or
    /// null when none are given and noop_with_empty_axes is set (the reduction is the identity).
    /// </summary>
    private static long[]? ReductionAxes(RuleContext c, int rank)
    {
        long[]? axes = c.Node.GetInts("axes");
        if (axes is null && c.In(1).Length > 0)
            axes = c.E.TryConstInt64(c.In(1)) ?? throw c.Unsupported("reduction axes must be constant");
        if (axes is null || axes.Length == 0)
        {
            if (c.Node.GetInt("noop_with_empty_axes", 0) != 0) return null;
            axes = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        }
        return axes.Select(a => a < 0 ? a + rank : a).ToArray();
    }

    /// <summary>ReduceSum / ReduceMean: dY (axes re-inserted, divided by the count for the mean) expanded to X's shape.</summary>
    private static void ReduceSumMean(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var x = c.In(0);
        var xd = c.Dims(x);
        var axes = ReductionAxes(c, xd.Length);
        if (axes is null) { c.Add(0, c.Dy0); return; }
        var keep = (long[])xd.Clone();
        foreach (var a in axes) keep[a] = 1;
        var g = c.Dy0;
        if (c.Node.GetInt("keepdims", 1) == 0) g = c.E.ReshapeTo(g, keep, x);
        if (c.Node.OpType == "ReduceMean")
        {
            if (axes.All(a => xd[a] >= 0))
                g = c.E.Scale(g, 1.0 / axes.Aggregate(1L, (p, a) => p * xd[a]), c.T);
            else g = c.E.Op("Div", [g, c.E.ElementCount(x, axes, c.T)]); // batch-dependent count, counted on the device
        }
        c.Add(0, c.E.ExpandTo(g, keep, xd, x, spreadSmallTrailing: !IsCuda(c.Options)));
    }

    /// <summary>Expand: dY summed over the broadcast axes back to X's shape.</summary>
    private static void Expand(RuleContext c)
    {
        if (c.Needs(0)) c.Add(0, c.E.Unbroadcast(c.Dy0, c.Dims(c.Out(0)), c.Dims(c.In(0)), c.In(0)));
    }

    /// <summary>Split: dX = Concat of the outputs' gradients along the axis (zeros for an output that receives none).</summary>
    private static void Split(RuleContext c)
    {
        if (!c.Needs(0)) return;
        int r = c.Dims(c.In(0)).Length;
        long axis = c.Node.GetInt("axis", 0);
        if (axis < 0) axis += r;
        var parts = new List<string>();
        for (int i = 0; i < c.Node.Output.Count; i++)
        {
            var o = c.Out(i);
            if (o.Length == 0) throw c.Unsupported($"output {i} is omitted; its size is needed to place the gradients");
            parts.Add(c.Dy(i) ?? c.E.Zeros(c.Dims(o), o, c.T));
        }
        c.Add(0, parts.Count == 1 ? parts[0] : c.E.Op("Concat", parts, Attr.Int("axis", axis)));
    }

    /// <summary>
    /// Gather (data gradient). A constant scalar index (x[:, i], e.g. a class token): dY unsqueezed at the axis and padded
    /// into place. Any axis with index tensors (embedding lookups on axis 0, token ids shaped by the batch included, and
    /// x[:, idx]): ScatterElements with reduction add (the op MaxPool's rule runs on CUDA) of the gathered rows into
    /// zeros of the data's shape, negative indices wrapped first, so repeated indices sum. Not supported (named in the
    /// error): a gathered axis or more than one other axis whose size depends on the batch, and batch-shaped indices
    /// into batch-shaped data.
    /// </summary>
    private static void Gather(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var data = c.In(0); var idx = c.In(1);
        var dd = c.Dims(data);
        long axis = c.Node.GetInt("axis", 0);
        if (axis < 0) axis += dd.Length;
        var id = c.Dims(idx);
        if (id.Length == 0 && c.E.TryConstInt64(idx) is [var i0] && dd[axis] >= 0)
        {
            long k = dd[axis], at = i0 < 0 ? i0 + k : i0;
            var pads = new long[2 * dd.Length];
            pads[axis] = at;
            pads[dd.Length + axis] = k - 1 - at;
            c.Add(0, c.E.Op("Pad", [c.E.Op("Unsqueeze", [c.Dy0, c.E.I64(axis)]), c.E.I64(pads)]));
            return;
        }
        if (dd[axis] < 0) throw c.Unsupported($"Gather along axis {axis}, whose size depends on the batch, has no gradient rule");
        bool batchIndices = id.Any(d => d < 0);
        // Indices shaped by the batch (token ids [N, L] into an embedding table): their count is known only at run time,
        // so dY's rows are counted by Reshape's -1, which needs every other dim of the data to be fixed.
        if (batchIndices && dd.Any(d => d < 0))
            throw c.Unsupported("Gather with indices whose shape depends on the batch, from a tensor whose shape also depends on it, has no gradient rule");
        if (dd.Count(d => d < 0) > 1) throw c.Unsupported("Gather of a tensor with more than one batch-dependent dim has no gradient rule");
        var wrapped = WrappedIndices(c, idx, dd[axis]);
        // Axis a moved to the front: data^T [K, rest] with rest = the other dims in order, dY^T [I, rest] (I = the indices'
        // elements); each gathered row of dY^T is added to its row of data^T by ScatterElements (reduction add), the row
        // index broadcast over the row. Axis 0 needs no transposes.
        int r = dd.Length, ir = id.Length, a = (int)axis;
        var dy = c.Dy0;
        if (a > 0) // dY is [dd[:a], id, dd[a+1:]]: bring the indices' dims to the front
            dy = c.E.Transpose(dy, [.. Enumerable.Range(a, ir).Select(i => (long)i), .. Enumerable.Range(0, a).Select(i => (long)i),
                .. Enumerable.Range(a + ir, r - 1 - a).Select(i => (long)i)]);
        long[] restDims = [.. dd.Take(a), .. dd.Skip(a + 1)];
        var flatDy = batchIndices
            ? c.E.Op("Reshape", [dy, c.E.I64(-1, restDims.Aggregate(1L, (p, d) => p * d))])
            : c.E.Op("Reshape", [dy, c.E.I64(id.Aggregate(1L, (p, d) => p * d), -1)]);
        var flatIdx = c.E.Op("Reshape", [wrapped, c.E.I64(-1, 1)]);
        var expanded = c.E.Op("Expand", [flatIdx, c.E.Op("Shape", [flatDy])]);
        long[] dataT = [dd[a], .. restDims];
        var zeros = c.E.Op("Reshape", [c.E.Zeros(dd, data, c.T), c.E.I64(dd[a], -1)]); // zeros need no transposing, only [K, rest]
        var scattered = c.E.Op("ScatterElements", [zeros, expanded, flatDy], Attr.Int("axis", 0), Attr.String("reduction", "add"));
        var back = c.E.ReshapeTo(scattered, dataT, data);
        if (a > 0) back = c.E.Transpose(back, [.. Enumerable.Range(1, a).Select(i => (long)i), 0, .. Enumerable.Range(a + 1, r - 1 - a).Select(i => (long)i)]);
        c.Add(0, back);
    }

    /// <summary>GatherElements (torch.gather): dX = ScatterElements(zeros, indices (wrapped), dY, axis, reduction add).</summary>
    private static void GatherElements(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var data = c.In(0); var idx = c.In(1);
        var dd = c.Dims(data);
        long axis = c.Node.GetInt("axis", 0);
        if (axis < 0) axis += dd.Length;
        if (dd[axis] < 0) throw c.Unsupported($"GatherElements along axis {axis}, whose size depends on the batch, has no gradient rule");
        c.Add(0, c.E.Op("ScatterElements", [c.E.Zeros(dd, data, c.T), WrappedIndices(c, idx, dd[axis]), c.Dy0], Attr.Int("axis", axis), Attr.String("reduction", "add")));
    }

    /// <summary>Gather indices as int64 with negative ones wrapped to <paramref name="size"/> + i (ScatterElements' scatter targets).</summary>
    private static string WrappedIndices(RuleContext c, string idx, long size)
    {
        var i64 = c.S.TypeOf(idx) == ElementType.Int64 ? idx : c.E.Op("Cast", [idx], Attr.Int("to", (long)ElementType.Int64));
        return c.E.Op("Where", [c.E.Op("Less", [i64, c.E.I64(0)]), c.E.Op("Add", [i64, c.E.I64(size)]), i64]);
    }

    /// <summary>
    /// ReduceMax / ReduceMin (axes as attribute or input, keepdims 0/1) and GlobalMaxPool: dY goes to the elements
    /// equal to the result, split evenly among ties (PyTorch's amax/amin).
    /// </summary>
    private static void ReduceMaxMin(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var x = c.In(0);
        var xd = c.Dims(x);
        int r = xd.Length;
        bool global = c.Node.OpType == "GlobalMaxPool";
        var axes = global ? Enumerable.Range(2, r - 2).Select(i => (long)i).ToArray() : ReductionAxes(c, r);
        if (axes is null) { c.Add(0, c.Dy0); return; }
        bool keepDims = global || c.Node.GetInt("keepdims", 1) != 0;
        var keep = (long[])xd.Clone();
        foreach (var a in axes) keep[a] = 1;
        var y = keepDims ? c.Out(0) : c.E.ReshapeTo(c.Out(0), keep, x);
        var g = keepDims ? c.Dy0 : c.E.ReshapeTo(c.Dy0, keep, x);
        var mask = c.E.Op("Cast", [c.E.Op("Equal", [x, y])], Attr.Int("to", (long)c.T));
        var count = c.E.ReduceSum(mask, axes, keepDims: true);
        c.Add(0, c.E.Mul(mask, c.E.Op("Div", [g, count])));
    }
}
