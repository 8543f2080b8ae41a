using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Graphs;

/// <summary>Removing what a rewrite left unread.</summary>
internal static class GraphPruning
{
    /// <summary>
    /// Removes the producers of <paramref name="released"/> (values a rewrite stopped reading) whose outputs nothing reads
    /// any more, then theirs, transitively; graph outputs count as read. Returns the inputs of the removed nodes (which
    /// may include initializers now unread).
    /// </summary>
    public static HashSet<string> RemoveDeadProducers(GraphProto g, IEnumerable<string> released)
    {
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in g.Node) foreach (var o in n.Output) if (o.Length > 0) producers[o] = n;
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
        return removedInputs;
    }

    /// <summary>
    /// Removes nodes none of whose outputs is read (by a node, a subgraph or as a graph output), repeatedly, then the
    /// initializers nothing reads (an initializer that is also a graph input stays: removing it would make that input a
    /// required feed). Every standard ONNX op is free of side effects, so this changes no result; ONNX Runtime would
    /// otherwise warn at each session start about every initializer left unread.
    /// </summary>
    internal static void RemoveUnread(GraphProto g)
    {
        bool changed = true;
        while (changed)
        {
            var read = ReadValues(g);
            changed = false;
            for (int i = g.Node.Count - 1; i >= 0; i--)
            {
                var n = g.Node[i];
                if (n.Output.Count > 0 && n.Output.All(o => o.Length == 0 || !read.Contains(o)))
                {
                    g.Node.RemoveAt(i);
                    changed = true;
                }
            }
        }
        var stillRead = ReadValues(g);
        var inputs = new HashSet<string>(g.Input.Select(v => v.Name), StringComparer.Ordinal);
        for (int i = g.Initializer.Count - 1; i >= 0; i--)
            if (!stillRead.Contains(g.Initializer[i].Name) && !inputs.Contains(g.Initializer[i].Name)) g.Initializer.RemoveAt(i);
    }

    /// <summary>Every value read by a node of <paramref name="g"/> or of its subgraphs, and every graph output.</summary>
    internal static HashSet<string> ReadValues(GraphProto g)
    {
        var read = new HashSet<string>(g.Output.Select(v => v.Name), StringComparer.Ordinal);
        void Collect(GraphProto graph)
        {
            foreach (var n in graph.Node)
            {
                foreach (var i in n.Input) if (i.Length > 0) read.Add(i);
                foreach (var a in n.Attribute)
                {
                    if (a.G is not null) Collect(a.G);
                    foreach (var sub in a.Graphs) Collect(sub);
                }
            }
        }
        Collect(g);
        return read;
    }
}
