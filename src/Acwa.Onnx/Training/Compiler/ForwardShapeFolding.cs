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

        // Remove what only fed the replaced shapes: producers whose outputs nothing reads any more, transitively.
        var outputs = new HashSet<string>(g.Output.Select(v => v.Name), StringComparer.Ordinal);
        bool Unused(string value) => !outputs.Contains(value) && !g.Node.Any(m => m.Input.Contains(value));
        var pending = new Stack<string>(released);
        var removedInputs = new HashSet<string>(StringComparer.Ordinal);
        while (pending.Count > 0)
        {
            var value = pending.Pop();
            if (!producers.TryGetValue(value, out var p) || !g.Node.Contains(p)) continue;
            if (!p.Output.Where(o => o.Length > 0).All(Unused)) continue;
            g.Node.Remove(p);
            foreach (var i in p.Input.Where(i => i.Length > 0))
            {
                removedInputs.Add(i);
                pending.Push(i);
            }
        }
        foreach (var name in removedInputs)
        {
            if (!initializers.Contains(name) || keep.Contains(name) || g.Input.Any(v => v.Name == name) || !Unused(name)) continue;
            var t = g.Initializer.First(x => x.Name == name);
            g.Initializer.Remove(t);
        }
        return folded;
    }
}
