using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>
/// Static check that a graph does no shape arithmetic on the host, so that ONNX Runtime's CUDA EP runs every node
/// with <c>session.disable_cpu_ep_fallback=1</c>.
/// <para>
/// Background: the CUDA kernels of <c>Shape</c> and <c>Size</c> write their int64 output to host memory. ORT's
/// CPU-preferred-nodes heuristic (fallback_cpu_capability.cc) then walks their consumers: a consumer whose inputs
/// are all host values, graph inputs or small initializers (at most 100 elements) is assigned to the CPU EP, and its
/// outputs count as host values in turn; an input that the CUDA kernel declares as a host input (the shape of
/// <c>Reshape</c>, <c>Expand</c>, <c>ConstantOfShape</c>, the starts/ends of <c>Slice</c>, ...) stops the walk.
/// So <c>ConstantOfShape(Shape(x))</c> runs on CUDA while <c>Cast(Size(x))</c> or <c>Concat(Slice(Shape(x)), c)</c>
/// runs on the CPU.
/// </para>
/// <para>
/// The rule checked here is stricter than ORT's placement: every read of a host value (an output of <c>Shape</c> or
/// <c>Size</c>, or of a node that reads one and would be placed on the CPU) must go through one of the host inputs
/// listed in <see cref="HostInputs"/>. A node that mixes a host value with a device tensor (e.g. <c>Div(g,
/// Cast(Size(x)))</c>) stays on CUDA but costs a host-to-device copy per run, and it is reported too.
/// </para>
/// </summary>
internal static class DevicePlacementCheck
{
    /// <summary>Initializers with at most this many elements count as "small" for ORT's CPU placement.</summary>
    public const long SmallInitializerThreshold = 100;

    /// <summary>
    /// Input slots that ORT's CUDA kernels (opset 13+) read from host memory: a Shape/Size value may enter the device
    /// graph only through them.
    /// </summary>
    public static IReadOnlyDictionary<string, int[]> HostInputs { get; } = new Dictionary<string, int[]>(StringComparer.Ordinal)
    {
        ["ConstantOfShape"] = [0],
        ["Expand"] = [1],
        ["Reshape"] = [1],
        ["Slice"] = [1, 2, 3, 4],
        ["Tile"] = [1],
        ["Pad"] = [1, 2, 3],
        ["Range"] = [0, 1, 2],
        ["OneHot"] = [1],
        ["Squeeze"] = [1],
        ["Unsqueeze"] = [1],
        ["Split"] = [1],
        ["TopK"] = [1],
        ["Resize"] = [1, 2, 3],
        ["Upsample"] = [1],
        ["Dropout"] = [1, 2],
        ["CumSum"] = [1],
        ["Trilu"] = [1],
        ["ReduceSum"] = [1],
        ["ReduceMean"] = [1],
        ["ReduceMax"] = [1],
        ["ReduceMin"] = [1],
        ["ReduceProd"] = [1],
        ["ReduceL1"] = [1],
        ["ReduceL2"] = [1],
        ["ReduceLogSum"] = [1],
        ["ReduceLogSumExp"] = [1],
        ["ReduceSumSquare"] = [1],
    };

    /// <summary>
    /// The nodes of <paramref name="model"/>'s main graph that read a host shape value other than through a host input
    /// of their CUDA kernel (see the class remarks), in a topological order of the graph. Empty when the graph is clean.
    /// Subgraphs (If/Loop bodies) are not inspected.
    /// </summary>
    /// <exception cref="InvalidDataException">A node reads a value that nothing produces (or the graph has a cycle).</exception>
    public static IReadOnlyList<HostShapeFinding> FindHostShapeArithmetic(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var g = model.Graph;
        var small = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in g.Initializer)
            if (Tensors.ElementCount(t.Dims) <= SmallInitializerThreshold) small.Add(t.Name);
        foreach (var n in g.Node)
            if (n.OpType == "Constant" && n.Output.Count == 1 && n.Domain.Length == 0
                && (n.FindAttribute("value") is not { T: { } v } || Tensors.ElementCount(v.Dims) <= SmallInitializerThreshold))
                small.Add(n.Output[0]);
        var graphInputs = new HashSet<string>(g.Input.Select(v => v.Name), StringComparer.Ordinal);

        var host = new HashSet<string>(StringComparer.Ordinal);
        var findings = new List<HostShapeFinding>();
        var index = new Dictionary<NodeProto, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < g.Node.Count; i++) index[g.Node[i]] = i;
        foreach (var n in ReverseMode.TopologicalOrder(g))
        {
            int i = index[n];
            if (n.Domain.Length == 0 && n.OpType is "Shape" or "Size")
            {
                foreach (var o in n.Output) if (o.Length > 0) host.Add(o);
                continue;
            }
            int[] hostSlots = n.Domain.Length == 0 && HostInputs.TryGetValue(n.OpType, out var s) ? s : [];
            int firstBad = -1;
            bool onCpu = true, readsHost = false;
            for (int k = 0; k < n.Input.Count; k++)
            {
                var input = n.Input[k];
                if (input.Length == 0) continue;
                bool isHost = host.Contains(input);
                readsHost |= isHost;
                if (isHost && !hostSlots.Contains(k))
                {
                    if (firstBad < 0) firstBad = k;
                    continue;
                }
                // Mirrors ORT: small initializers and graph inputs do not keep a node on the device; a device tensor
                // or a host value read through a declared host input does.
                if (!isHost && (small.Contains(input) || graphInputs.Contains(input))) continue;
                onCpu = false;
            }
            if (!readsHost) continue;
            onCpu &= firstBad >= 0;
            if (firstBad >= 0)
                findings.Add(new HostShapeFinding(i, n.Name.Length > 0 ? n.Name : n.Output.FirstOrDefault() ?? "?", n.OpType, firstBad, n.Input[firstBad], onCpu));
            if (onCpu)
                foreach (var o in n.Output) if (o.Length > 0) host.Add(o);
        }
        return findings;
    }

    /// <summary>
    /// Throws when <see cref="FindHostShapeArithmetic"/> finds anything in <paramref name="model"/>.
    /// <paramref name="graphRole"/> names the graph in the message (e.g. "training graph").
    /// </summary>
    /// <exception cref="NotSupportedException">The graph does shape arithmetic on the host; the message lists the nodes.</exception>
    public static void EnsureNoHostShapeArithmetic(ModelProto model, string graphRole)
    {
        var found = FindHostShapeArithmetic(model);
        if (found.Count == 0) return;
        const int Shown = 10;
        var lines = string.Join("; ", found.Take(Shown).Select(f => f.ToString()));
        var more = found.Count > Shown ? $"; and {found.Count - Shown} more" : "";
        throw new NotSupportedException(
            $"the {graphRole} compiled for device 'cuda' does shape arithmetic on the host ({found.Count} node(s)), which ONNX Runtime " +
            $"runs on the CPU EP and which fails with CPU fallback disabled: {lines}{more}. " +
            "Compute batch-dependent counts and shapes on the device (see docs/training-graphs.md, 'CUDA placement').");
    }
}
