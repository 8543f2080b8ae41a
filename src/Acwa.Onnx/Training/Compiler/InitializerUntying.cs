using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>
/// Undoes torch.onnx.export's deduplication of initializers. Exporting a model in eval mode, torch replaces every
/// initializer whose values equal another's by an Identity of that one: freshly initialised batch norms (scale ones, bias
/// zeros, running mean zeros, running variance ones) then all read the first batch norm's scale and bias, and their
/// running statistics are Identities of those parameters. Trained as exported, those layers would share one scale and
/// bias, and their running statistics would be the parameters themselves. Each Identity of an initializer becomes an
/// initializer of its own (a copy of the values), named as PyTorch named the tensor where the consumer's node name tells
/// it ("/3/block/block.1/BatchNormalization" input 1 -> "3.block.1.weight", so that --frozen '3.*' patterns match),
/// else after the Identity's output. A tensor used directly by several nodes (weights really shared) is left as it is, and
/// so are models with subgraphs.
/// </summary>
internal static class InitializerUntying
{
    /// <summary>Input slots whose PyTorch parameter names are known, per op type.</summary>
    private static readonly Dictionary<string, string[]> SlotNames = new(StringComparer.Ordinal)
    {
        ["BatchNormalization"] = ["", "weight", "bias", "running_mean", "running_var"],
        ["Conv"] = ["", "weight", "bias"],
        ["ConvTranspose"] = ["", "weight", "bias"],
        ["Gemm"] = ["", "weight", "bias"],
        ["LayerNormalization"] = ["", "weight", "bias"],
        ["PRelu"] = ["", "weight"],
    };

    /// <summary>A copy of <paramref name="forward"/> with every Identity of an initializer replaced by an initializer; the model itself when there is none.</summary>
    public static ModelProto Apply(ModelProto forward)
    {
        var g0 = forward.Graph;
        if (g0 is null || !g0.Node.Any(n => n.OpType == "Identity" && n.Input.Count == 1 && g0.Initializer.Any(t => t.Name == n.Input[0])))
            return forward;
        // Subgraphs (If, Loop) may read an Identity's output by name: such models are left as exported.
        if (g0.Node.Any(n => n.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0))) return forward;
        var model = forward.Clone();
        var g = model.Graph;
        var inits = g.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var graphOutputs = new HashSet<string>(g.Output.Select(o => o.Name), StringComparer.Ordinal);
        var taken = new HashSet<string>(inits.Keys.Concat(g.Input.Select(i => i.Name)).Concat(g.Node.SelectMany(n => n.Output)), StringComparer.Ordinal);
        foreach (var id in g.Node.Where(n => n.OpType == "Identity" && n.Input.Count == 1 && inits.ContainsKey(n.Input[0])).ToList())
        {
            var value = id.Output[0];
            if (graphOutputs.Contains(value)) continue;
            var consumers = g.Node.Where(n => n.Input.Contains(value)).ToList();
            var name = consumers.Count == 1 ? TorchName(consumers[0], consumers[0].Input.IndexOf(value)) : null;
            if (name is null || taken.Contains(name)) name = value;
            var copy = inits[id.Input[0]].Clone();
            copy.Name = name;
            g.Initializer.Add(copy);
            taken.Add(name);
            if (name != value)
                foreach (var c in consumers)
                    for (int i = 0; i < c.Input.Count; i++)
                        if (c.Input[i] == value) c.Input[i] = name;
            g.Node.Remove(id);
        }
        return model;
    }

    /// <summary>
    /// The PyTorch name of input <paramref name="slot"/> of a node that torch.onnx.export named after its module scope
    /// ("/layer1/layer1.0/conv1/Conv" -> module "layer1.0.conv1", "/features/features.0/features.0.0/Conv" ->
    /// "features.0.0", "/3/block/block.1/BatchNormalization" -> "3.block.1"), or null.
    /// </summary>
    internal static string? TorchName(NodeProto consumer, int slot)
    {
        if (!SlotNames.TryGetValue(consumer.OpType, out var slots) || slot < 1 || slot >= slots.Length) return null;
        var parts = consumer.Name.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2) return null;
        // A scope segment that starts with the previous segment and a dot names a child of it ("layer1" -> "layer1.0",
        // "block" -> "block.1", "features.0" -> "features.0.0"); any other segment is the next attribute name.
        var module = new List<string> { parts[0] };
        for (int i = 1; i < parts.Length - 1; i++)
        {
            var prev = parts[i - 1];
            module.Add(parts[i].StartsWith(prev + ".", StringComparison.Ordinal) ? parts[i][(prev.Length + 1)..] : parts[i]);
        }
        return string.Join('.', module) + "." + slots[slot];
    }
}
