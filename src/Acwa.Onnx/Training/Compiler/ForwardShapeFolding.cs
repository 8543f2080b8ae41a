using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>
/// Removes shape arithmetic that forward models bring along, so that their compiled graphs keep every node on the
/// CUDA EP (see <see cref="DevicePlacementCheck"/>). PyTorch exports with a dynamic batch write
/// <c>x.view(x.size(0), -1)</c> as <c>Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]))</c>, which ONNX Runtime
/// computes on the CPU EP.
/// </summary>
internal static class ForwardShapeFolding
{
    /// <summary>
    /// The folding both compiled graphs (training step and eval) apply to their copy of the forward graph: on CUDA the
    /// host shape arithmetic (there it fails the session; on the CPU the export's own arithmetic runs as exported), then
    /// computed Reshape shapes. Parameters and running statistics are kept.
    /// </summary>
    public static void FoldForward(GraphProto g, ForwardModelInfo info, bool cuda)
    {
        RecurrentLowering.DropZeroInitialStates(g);
        var state = info.Trainable.Concat(info.Buffers).ToList();
        if (cuda) FoldHostShapeArithmetic(g, info.Shapes, info.Input, state);
        FoldReshapeShapes(g, info.Shapes, state);
    }

    /// <summary>
    /// Each Reshape in <paramref name="g"/> whose shape input is computed by nodes (not an initializer, Constant or graph
    /// input) and whose output dims the probe recorded in <paramref name="shapes"/> with at most one batch-dependent dim
    /// and no 0 gets a constant shape instead: those dims, -1 at the batch-dependent one (which Reshape infers), so the
    /// result is the same at every batch size. Nodes that only fed the replaced shapes are removed, and so are
    /// initializers that only they read, unless named in <paramref name="keep"/>. Returns the number of Reshapes folded.
    /// </summary>
    public static int FoldReshapeShapes(GraphProto g, ShapeTable shapes, IReadOnlyCollection<string> keep)
    {
        var initializers = new HashSet<string>(g.Initializer.Select(t => t.Name), StringComparer.Ordinal);
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in g.Node)
            foreach (var o in n.Output)
                if (o.Length > 0) producers[o] = n;
        var b = new GraphBuilder(g);
        var released = new List<string>();
        int folded = 0;
        foreach (var n in g.Node.ToList())
        {
            if (n.OpType != "Reshape" || n.Domain.Length != 0 || n.Input.Count < 2) continue;
            var shapeValue = n.Input[1];
            if (!producers.TryGetValue(shapeValue, out var producer) || producer.OpType == "Constant") continue;
            if (!shapes.TryGet(n.Output[0], out var dims) || dims.Count(d => d < 0) > 1 || dims.Any(d => d == 0)) continue;
            n.Input[1] = b.Initializer(Tensors.Int64("reshape_shape", [dims.Length], dims));
            released.Add(shapeValue);
            folded++;
        }
        if (folded == 0) return 0;
        Prune(g, released, initializers, keep);
        return folded;
    }

    /// <summary>
    /// Removes the rest of the host shape arithmetic that exports bring, so that compiled graphs keep every node on the
    /// CUDA EP:
    /// - an integer value computed from shapes only (Shape, Size, constants and ops over them) that the probe saw equal
    ///   at both batch sizes and that a data-path node reads (e.g. <c>chunk</c>'s Slice bounds, computed from a static
    ///   last dim) becomes a constant;
    /// - <c>Expand(x, shape)</c> whose shape is computed from the batch size (<c>cls.expand(N, -1, -1)</c>) becomes
    ///   <c>x + zeros[.., N, ..]</c> (broadcasting), the zeros made on the device from a one-element-per-sample Slice
    ///   of <paramref name="batchInput"/> minus itself (exact for finite inputs), then an Expand with a constant shape
    ///   where the result must grow further. Only when the probe saw the expanded axis equal to the batch size.
    /// Nodes that only fed what was replaced are removed (initializers too, unless named in <paramref name="keep"/>).
    /// Returns the number of values folded plus Expands rewritten.
    /// </summary>
    public static int FoldHostShapeArithmetic(GraphProto g, ShapeTable shapes, string batchInput, IReadOnlyCollection<string> keep)
    {
        var initializers = new HashSet<string>(g.Initializer.Select(t => t.Name), StringComparer.Ordinal);
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in g.Node)
            foreach (var o in n.Output)
                if (o.Length > 0) producers[o] = n;
        // Values that depend on no graph input's data and no parameter: shapes, integer constants and what is computed
        // from them only.
        var shapeOnly = new HashSet<string>(g.Initializer.Where(t => t.DataType is (int)TensorProto.Types.DataType.Int64 or (int)TensorProto.Types.DataType.Int32)
            .Select(t => t.Name), StringComparer.Ordinal);
        var shapeNodes = new HashSet<NodeProto>();
        foreach (var n in g.Node)
        {
            // (A node without inputs other than Constant - RandomNormal, ... - makes data, not shapes.)
            bool only = n.OpType is "Shape" or "Size" or "Constant"
                || (n.Input.Any(i => i.Length > 0) && n.Input.Where(i => i.Length > 0).All(shapeOnly.Contains));
            if (!only || n.Domain.Length != 0) continue;
            shapeNodes.Add(n);
            foreach (var o in n.Output) if (o.Length > 0) shapeOnly.Add(o);
        }
        bool Computed(string v) => producers.TryGetValue(v, out var p) && p.OpType != "Constant";

        var b = new GraphBuilder(g);
        var released = new List<string>();
        int changed = 0;
        foreach (var n in g.Node.ToList())
        {
            if (shapeNodes.Contains(n)) continue;
            for (int i = 0; i < n.Input.Count; i++)
            {
                var v = n.Input[i];
                if (v.Length == 0 || !shapeOnly.Contains(v) || !Computed(v) || !shapes.TryGetIntValue(v, out var values)
                    || !shapes.TryGet(v, out var dims) || shapes.TypeOf(v) != ElementType.Int64) continue;
                n.Input[i] = b.Initializer(Tensors.Int64("folded_shape_value", dims, values));
                shapes.Set(n.Input[i], dims, ElementType.Int64);
                released.Add(v);
                changed++;
            }
        }
        foreach (var n in g.Node.ToList())
        {
            if (n.OpType != "Expand" || n.Domain.Length != 0 || shapeNodes.Contains(n) || !Computed(n.Input[1]) || !shapeOnly.Contains(n.Input[1])) continue;
            if (RewriteBatchExpand(g, b, shapes, n, batchInput)) { released.Add(n.Input[1]); changed++; }
        }
        if (changed > 0) Prune(g, released, initializers, keep);
        return changed;
    }

    private static bool RewriteBatchExpand(GraphProto g, GraphBuilder b, ShapeTable shapes, NodeProto expand, string batchInput)
    {
        var x = expand.Input[0];
        var y = expand.Output[0];
        if (!shapes.TryGet(y, out var dims) || !shapes.TryGet(x, out var xDims) || !shapes.TryGet(batchInput, out var inDims)) return false;
        var dynamic = Enumerable.Range(0, dims.Length).Where(i => dims[i] < 0).ToArray();
        var inBatch = shapes.BatchAxes(batchInput);
        if (dynamic.Length != 1 || !shapes.BatchAxes(y).Contains(dynamic[0]) || inBatch.Length != 1) return false;
        var type = shapes.TypeOf(y);
        if (shapes.TypeOf(batchInput) != type || type is not (ElementType.Float or ElementType.Double)) return false;
        int axis = dynamic[0], rank = dims.Length;
        int index = g.Node.IndexOf(expand);
        g.Node.Remove(expand);
        int before = g.Node.Count;
        string Reg(string v, long[] d) { shapes.Set(v, d, type); return v; }

        // zeros shaped [1, .., N at the batch axis, .., 1] from the batch input, on the device
        var ends = Enumerable.Range(0, inDims.Length).Select(i => i == inBatch[0] ? long.MaxValue : 1L).ToArray();
        var sliceDims = Enumerable.Range(0, inDims.Length).Select(i => i == inBatch[0] ? -1L : 1L).ToArray();
        var one = Reg(b.Op("Slice", [batchInput, b.ConstInt64("expand_starts", new long[inDims.Length]), b.ConstInt64("expand_ends", ends),
            b.ConstInt64("expand_axes", Enumerable.Range(0, inDims.Length).Select(i => (long)i).ToArray())]), sliceDims);
        var zeroDims = Enumerable.Range(0, rank).Select(i => i == axis ? -1L : 1L).ToArray();
        var zeros = Reg(b.Op("Reshape", [Reg(b.Op("Sub", [one, one]), sliceDims), b.ConstInt64("expand_zero_shape", zeroDims)]), zeroDims);
        var broadcast = GradientRules.BroadcastDims(xDims, zeroDims);
        var sum = Reg(b.Op("Add", [x, zeros]), broadcast);
        if (!broadcast.SequenceEqual(dims))
            b.Op("Expand", [sum, b.ConstInt64("expand_shape", dims.Select((d, i) => i == axis ? 1L : d).ToArray())]);
        g.Node[^1].Output[0] = y; // the last node now produces the Expand's output under its name
        b.MoveAppendedTo(before, index);
        return true;
    }

    /// <summary>Removes producers whose outputs nothing reads any more (transitively from <paramref name="released"/>) and initializers only they read.</summary>
    private static void Prune(GraphProto g, List<string> released, HashSet<string> initializers, IReadOnlyCollection<string> keep)
    {
        foreach (var name in GraphPruning.RemoveDeadProducers(g, released))
        {
            if (!initializers.Contains(name) || keep.Contains(name) || g.Input.Any(v => v.Name == name)
                || g.Output.Any(v => v.Name == name) || g.Node.Any(m => m.Input.Contains(name))) continue;
            var t = g.Initializer.First(x => x.Name == name);
            g.Initializer.Remove(t);
        }
    }
}
