using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Autodiff;

/// <summary>Reverse-mode differentiation of an ONNX graph into standard ONNX ops (rules in docs/autodiff.md).</summary>
internal static class ReverseMode
{
    /// <summary>Op types with a gradient rule.</summary>
    public static IReadOnlyCollection<string> SupportedOps => GradientRules.All.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Ops whose outputs carry no gradient (integer/boolean results, or piecewise-constant functions): they are never
    /// differentiated through, whatever their input types.
    /// </summary>
    internal static readonly HashSet<string> NonDifferentiable = new(StringComparer.Ordinal)
    {
        "Shape", "Size", "ArgMax", "ArgMin", "ConstantOfShape", "EyeLike", "RandomNormalLike", "RandomUniformLike",
        "RandomNormal", "RandomUniform", "Multinomial", "Bernoulli", "NonZero", "Equal", "Greater", "GreaterOrEqual", "Less",
        "LessOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf", "Floor", "Ceil", "Round", "Sign", "OneHot", "Range",
    };

    /// <summary>
    /// Appends gradient nodes to <c>b.Graph</c>. <paramref name="seeds"/> maps forward values to the names of their
    /// gradients (same shape); <paramref name="wrt"/> names the values (initializers or graph inputs) whose gradients
    /// are wanted. Only nodes on a path from a <paramref name="wrt"/> value to a seed get gradient work; values of
    /// non-float types (int shape paths, bool masks) carry none. A wrt value no seed depends on gets zeros of its shape.
    /// Fan-out is summed with one Sum node per value. The forward graph may be changed where a rule needs an extra
    /// forward output (MaxPool gains its Indices output, training-mode Dropout its mask output).
    /// </summary>
    /// <returns>wrt name -> gradient value name (same shape as the wrt value).</returns>
    /// <exception cref="NotSupportedException">An op on a trainable path has no rule, or an attribute combination is not supported; the message names the node, the op type and the supported ops.</exception>
    /// <exception cref="ArgumentException">A seed or wrt value, or a value between them, is unknown to <paramref name="shapes"/>.</exception>
    public static IReadOnlyDictionary<string, string> Differentiate(
        GraphBuilder b, IReadOnlyDictionary<string, string> seeds, IReadOnlyCollection<string> wrt,
        ShapeTable shapes, GradientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(wrt);
        ArgumentNullException.ThrowIfNull(shapes);
        options ??= new GradientOptions();
        foreach (var s in seeds.Keys)
            if (!shapes.Contains(s)) throw new ArgumentException($"seed value '{s}' has no entry in the shape table", nameof(seeds));
        foreach (var w in wrt)
            if (!shapes.Contains(w)) throw new ArgumentException($"wrt value '{w}' has no entry in the shape table", nameof(wrt));

        var nodes = TopologicalOrder(b.Graph);
        var emitter = new GradEmitter(b, shapes);

        // Values the seeds depend on.
        var bwd = new HashSet<string>(seeds.Keys, StringComparer.Ordinal);
        for (int i = nodes.Count - 1; i >= 0; i--)
            if (nodes[i].Output.Any(bwd.Contains))
                foreach (var x in nodes[i].Input) if (x.Length > 0) bwd.Add(x);
        // Values that depend differentiably on a wrt value.
        var fwd = new HashSet<string>(wrt, StringComparer.Ordinal);
        foreach (var n in nodes)
        {
            if (NonDifferentiable.Contains(n.OpType) || !n.Input.Any(fwd.Contains)) continue;
            foreach (var o in n.Output)
            {
                if (o.Length == 0) continue;
                if (!shapes.Contains(o))
                {
                    if (bwd.Contains(o))
                        throw new ArgumentException($"{n.Describe()}: output '{o}' lies between a wrt value and a seed but has no entry in the shape table; probe the graph after adding the node or register it with ShapeTable.Set", nameof(shapes));
                    continue;
                }
                if (IsFloat(shapes.TypeOf(o))) fwd.Add(o);
            }
        }

        var contributions = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var total = new Dictionary<string, string>(StringComparer.Ordinal);
        // How often each gradient value was sent as a contribution: a rule may send one value to several inputs (Add).
        var uses = new Dictionary<string, int>(StringComparer.Ordinal);
        void AddGrad(string value, string grad)
        {
            if (!contributions.TryGetValue(value, out var list)) contributions[value] = list = [];
            list.Add(grad);
            uses[grad] = uses.GetValueOrDefault(grad) + 1;
        }
        string? Accumulated(string value)
        {
            if (total.TryGetValue(value, out var t)) return t;
            if (!contributions.TryGetValue(value, out var list) || list.Count == 0) return null;
            t = list.Count == 1 ? list[0] : PadsAsConcat(b, list, shapes[value], g => uses[g] == 1) ?? b.Op("Sum", list);
            total[value] = t;
            return t;
        }
        foreach (var (value, grad) in seeds) AddGrad(value, grad);

        for (int i = nodes.Count - 1; i >= 0; i--)
        {
            var n = nodes[i];
            bool active = false;
            foreach (var o in n.Output) if (fwd.Contains(o) && bwd.Contains(o)) { active = true; break; }
            if (!active || NonDifferentiable.Contains(n.OpType)) continue;
            var dy = n.Output.Select(o => fwd.Contains(o) && bwd.Contains(o) ? Accumulated(o) : null).ToArray();
            if (dy.All(d => d is null)) continue;
            if (!GradientRules.All.TryGetValue(n.OpType, out var rule))
                throw new NotSupportedException(
                    $"{n.Describe()}: op type '{n.OpType}' has no gradient rule but lies on a path from a trainable value to the loss. " +
                    $"Supported op types: {string.Join(", ", GradientRules.All.Keys.Order(StringComparer.Ordinal))}.");
            var ctx = new RuleContext(n, dy, k => fwd.Contains(n.Input[k]), AddGrad, emitter, options);
            rule(ctx);
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var w in wrt)
            result[w] = Accumulated(w) ?? emitter.Zeros(shapes[w], w, shapes.TypeOf(w));
        return result;
    }

    internal static bool IsFloat(ElementType t) => t is ElementType.Float or ElementType.Double or ElementType.Float16 or ElementType.BFloat16;

    /// <summary>The graph's nodes in a topological order (the stored order when it already is one).</summary>
    internal static List<NodeProto> TopologicalOrder(GraphProto g)
    {
        var available = new HashSet<string>(StringComparer.Ordinal) { "" };
        foreach (var i in g.Input) available.Add(i.Name);
        foreach (var t in g.Initializer) available.Add(t.Name);
        var pending = g.Node.ToList();
        var order = new List<NodeProto>(pending.Count);
        while (pending.Count > 0)
        {
            var next = new List<NodeProto>();
            foreach (var n in pending)
            {
                if (n.Input.All(available.Contains))
                {
                    order.Add(n);
                    foreach (var o in n.Output) available.Add(o);
                }
                else next.Add(n);
            }
            if (next.Count == pending.Count)
                throw new InvalidDataException($"graph '{g.Name}': {next[0].Describe()} reads '{next[0].Input.First(x => !available.Contains(x))}', which no node, input or initializer produces (or the graph has a cycle)");
            pending = next;
        }
        return order;
    }

    /// <summary>
    /// Contributions that are each a constant zero Pad of a piece along one common axis, the pieces tiling that axis
    /// exactly (the gradients of q, k, v = qkv[0], qkv[1], qkv[2], or of slices that cover a tensor), summed as the
    /// Concat of the pieces: one pass instead of padding each to the full size and adding them up. The Pads are removed,
    /// except those whose output is read elsewhere too (a gradient that a rule also sent to another input, e.g. both
    /// inputs of an Add: <paramref name="onlyHere"/> is false for it, or one that a node already reads).
    /// Null when the contributions do not have that form.
    /// </summary>
    private static string? PadsAsConcat(GraphBuilder b, List<string> grads, long[] dims, Func<string, bool> onlyHere)
    {
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in b.Graph.Node) if (n.Output.Count == 1 && grads.Contains(n.Output[0])) producers[n.Output[0]] = n;
        var pieces = new List<(NodeProto Pad, long Begin, long Length)>();
        int axis = -1;
        foreach (var g in grads)
        {
            if (!producers.TryGetValue(g, out var p) || p.OpType != "Pad" || p.GetString("mode", "constant") != "constant"
                || (p.Input.Count > 2 && p.Input[2].Length > 0) || p.Input.Count > 3) return null;
            var init = b.Graph.Initializer.FirstOrDefault(t => t.Name == p.Input[1]);
            if (init is null || init.DataType != (int)TensorProto.Types.DataType.Int64) return null;
            var amounts = Tensors.ToInt64s(init);
            int rank = amounts.Length / 2;
            if (rank != dims.Length) return null;
            var padded = Enumerable.Range(0, rank).Where(i => amounts[i] != 0 || amounts[rank + i] != 0).ToList();
            if (padded.Count != 1 || (axis >= 0 && padded[0] != axis) || amounts.Any(v => v < 0)) return null;
            axis = padded[0];
            if (dims[axis] < 0) return null;
            pieces.Add((p, amounts[axis], dims[axis] - amounts[axis] - amounts[rank + axis]));
        }
        pieces.Sort((x, y) => x.Begin.CompareTo(y.Begin));
        long next = 0;
        foreach (var (_, begin, length) in pieces)
        {
            if (begin != next || length <= 0) return null;
            next += length;
        }
        if (next != dims[axis]) return null;
        foreach (var (pad, _, _) in pieces)
        {
            var o = pad.Output[0];
            if (onlyHere(o) && !b.Graph.Node.Any(n => n.Input.Contains(o)) && !b.Graph.Output.Any(v => v.Name == o))
                b.Graph.Node.Remove(pad);
        }
        return b.Op("Concat", pieces.Select(x => x.Pad.Input[0]).ToList(), Attr.Int("axis", axis));
    }
}
