using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>
/// Keeps every Concat at most <see cref="MaxFan"/> inputs wide and every Split at most <see cref="MaxFan"/> outputs, as
/// two-level trees that compute the same tensors (concatenation and splitting move values, so results are bit-identical).
/// ORT's CUDA Concat and Split pass up to 32 tensor addresses as kernel arguments; with more they copy an address table
/// from the host before the launch, which a CUDA graph capture refuses ("CUDA Concat supports at most 32 inputs during
/// CUDA Graph capture", seen on an H200 with ResNet-32's fused optimizer update: 95 inputs). Applied to CUDA graphs.
/// A Split is rewritten only when its sizes are a constant (the 'split' initializer); others are left as they are.
/// </summary>
internal static class WideNodeSplitting
{
    /// <summary>Largest fan-in of a Concat / fan-out of a Split that ORT's CUDA kernels capture in a CUDA graph.</summary>
    public const int MaxFan = 32;

    public static void Apply(GraphProto g, int maxFan = MaxFan)
    {
        if (maxFan < 2) throw new ArgumentOutOfRangeException(nameof(maxFan), maxFan, "need at least 2");
        var b = new GraphBuilder(g); // new nodes are appended, then moved into place
        var inits = g.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        for (int i = 0; i < g.Node.Count; i++)
        {
            var n = g.Node[i];
            if (n.Domain.Length > 0) continue;
            if (n.OpType == "Concat" && n.Input.Count > maxFan)
            {
                // Groups of consecutive inputs, each concatenated first; the node then concatenates the groups (recursively narrowed).
                var groups = Chunks(n.Input.ToList(), Math.Max(maxFan, (n.Input.Count + maxFan - 1) / maxFan)).ToList();
                int before = g.Node.Count;
                var parts = groups.Select(group => group.Count == 1 ? group[0] : b.Op("Concat", group, [.. n.Attribute.Select(a => a.Clone())])).ToList();
                n.Input.Clear();
                n.Input.AddRange(parts);
                b.MoveAppendedTo(before, i);
                i--; // revisit the inner nodes and the narrowed node (still too wide only past maxFan^2 inputs)
                continue;
            }
            if (n.OpType == "Split" && n.Output.Count > maxFan && n.Input.Count == 2 && inits.TryGetValue(n.Input[1], out var sizesTensor))
            {
                var sizes = Tensors.ToInt64s(sizesTensor);
                if (sizes.Length != n.Output.Count) continue;
                var groups = Chunks(Enumerable.Range(0, sizes.Length).ToList(), Math.Max(maxFan, (sizes.Length + maxFan - 1) / maxFan)).ToList();
                var outer = new List<string>();
                var outerSizes = new List<long>();
                var inner = new List<NodeProto>();
                foreach (var group in groups)
                {
                    outerSizes.Add(group.Sum(k => sizes[k]));
                    if (group.Count == 1) { outer.Add(n.Output[group[0]]); continue; }
                    var part = b.Unique($"{n.Name}/part{outer.Count}");
                    outer.Add(part);
                    var groupSizes = Tensors.Int64($"{n.Name}/sizes{inner.Count}", [group.Count], group.Select(k => sizes[k]).ToArray());
                    b.Initializer(groupSizes);
                    inits[groupSizes.Name] = groupSizes;
                    var s = new NodeProto { OpType = "Split", Name = b.Unique($"{n.Name}/Split{inner.Count}") };
                    s.Input.Add(part);
                    s.Input.Add(groupSizes.Name);
                    s.Output.AddRange(group.Select(k => n.Output[k]));
                    s.Attribute.AddRange(n.Attribute.Select(a => a.Clone()));
                    inner.Add(s);
                }
                var outerTensor = Tensors.Int64($"{n.Name}/sizes", [outerSizes.Count], outerSizes.ToArray());
                b.Initializer(outerTensor);
                inits[outerTensor.Name] = outerTensor;
                n.Input[1] = outerTensor.Name;
                n.Output.Clear();
                n.Output.AddRange(outer);
                // After the node: the loop reaches them next, and narrows them again if still too wide (past maxFan^2 outputs).
                for (int k = 0; k < inner.Count; k++) g.Node.Insert(i + 1 + k, inner[k]);
            }
        }
    }

    /// <summary>Consecutive chunks of at most <paramref name="size"/> items.</summary>
    private static IEnumerable<List<T>> Chunks<T>(List<T> items, int size)
    {
        for (int k = 0; k < items.Count; k += size) yield return items.GetRange(k, Math.Min(size, items.Count - k));
    }
}
