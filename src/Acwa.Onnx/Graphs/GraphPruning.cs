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
}
