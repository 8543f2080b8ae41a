using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>What the compiler learns about a forward model: batch input, logits, classes, trainable parameters, buffers, shapes.</summary>
/// <param name="Input">The batch input's name.</param>
/// <param name="InputShape">Its shape with the batch as -1.</param>
/// <param name="Logits">The logits value ([N, C]).</param>
/// <param name="NumClasses">C.</param>
/// <param name="Trainable">Trainable initializers, in the model's initializer order.</param>
/// <param name="Buffers">Batch-norm running mean/var initializers, in initializer order.</param>
/// <param name="Shapes">Shapes of every value of the forward graph.</param>
/// <param name="InferenceBatchNorms">First outputs of the BatchNormalization nodes that stay in inference mode
/// (<see cref="ArtifactOptions.FrozenBatchNorm"/>); their running statistics are constants, not buffers.</param>
internal sealed record ForwardModelInfo(string Input, long[] InputShape, string Logits, int NumClasses,
    IReadOnlyList<string> Trainable, IReadOnlyList<string> Buffers, ShapeTable Shapes, IReadOnlySet<string> InferenceBatchNorms)
{
    /// <summary>Analyses <paramref name="forward"/> (not modified); errors name the offending input, output or initializer.</summary>
    public static ForwardModelInfo Analyze(ModelProto forward, ArtifactOptions o)
    {
        var g = forward.Graph ?? throw new ArgumentException("the forward model has no graph");
        int opset = StepGraph.Opset(forward);
        if (opset < 13)
            throw new NotSupportedException($"the forward model imports ONNX opset {opset}; the training-graph compiler needs opset 13 or later (re-export the model)");
        var inits = g.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var feeds = g.Input.Where(i => !inits.ContainsKey(i.Name)).ToList();
        if (feeds.Count != 1)
            throw new ArgumentException($"the forward model must have exactly one non-initializer input (the batch); it has {feeds.Count}: {string.Join(", ", feeds.Select(f => f.Name))}");
        var input = feeds[0];
        long[] shape;
        if (o.InputShape is { } s)
        {
            if (s.Any(d => d <= 0)) throw new ArgumentException($"input shape [{string.Join(",", s)}] must have positive dims (without the batch)");
            shape = [-1, .. s];
        }
        else
        {
            var dims = input.Type?.TensorType?.Shape?.Dim ?? throw new ArgumentException($"input '{input.Name}' declares no shape; pass the input shape");
            if (dims.Count < 1) throw new ArgumentException($"input '{input.Name}' is a scalar; it needs a batch dimension");
            shape = new long[dims.Count];
            shape[0] = -1;
            for (int i = 1; i < dims.Count; i++)
            {
                if (dims[i].DimValue <= 0) throw new ArgumentException($"input '{input.Name}' has a symbolic or unknown dim {i} ('{dims[i].DimParam}'); pass the input shape");
                shape[i] = dims[i].DimValue;
            }
        }

        if (g.Output.Count == 0) throw new ArgumentException("the forward model has no outputs");
        var logits = o.LogitsOutput ?? g.Output[0].Name;
        if (!g.Output.Any(v => v.Name == logits))
            throw new ArgumentException($"'{logits}' is not an output of the forward model (outputs: {string.Join(", ", g.Output.Select(v => v.Name))})");

        var shapes = ShapeProbe.Infer(forward, input.Name, shape);
        var ld = shapes[logits];
        if (ld.Length != 2 || ld[0] != -1 || ld[1] < 2)
            throw new ArgumentException($"logits '{logits}' must have shape [N, C] with C >= 2; it has [{string.Join(",", ld)}]");
        if (o.NumClasses is { } nc && nc != ld[1])
            throw new ArgumentException($"{nc} classes were asked for (the data's classes, or ArtifactOptions.NumClasses), but the model's logits output '{logits}' has {ld[1]}; give the model a head with {nc} outputs (e.g. re-export it after replacing its last layer)");

        var bufferSet = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in g.Node.Where(n => n.OpType == "BatchNormalization"))
            for (int i = 3; i < Math.Min(5, n.Input.Count); i++)
                if (inits.ContainsKey(n.Input[i])) bufferSet.Add(n.Input[i]);
        var buffers = g.Initializer.Select(t => t.Name).Where(bufferSet.Contains).ToList();

        // Initializers consumed only as op settings (Dropout ratio, Clip bounds, Pad values, Resize scales) are not parameters.
        var settingOnly = new HashSet<string>(inits.Keys.Where(name =>
        {
            bool used = false;
            foreach (var n in g.Node)
                for (int i = 0; i < n.Input.Count; i++)
                {
                    if (n.Input[i] != name) continue;
                    used = true;
                    if (!SettingSlots.TryGetValue(n.OpType, out var slots) || !slots.Contains(i)) return false;
                }
            return used;
        }), StringComparer.Ordinal);

        // Initializers no node reads (left over by exporters, or by InitializerUntying) get no gradient: not parameters.
        var read = GraphPruning.ReadValues(g);
        bool IsFloat(string name) => inits[name].DataType == (int)TensorProto.Types.DataType.Float;
        List<string> trainable;
        if (o.Trainable is { } trEntries)
        {
            var tr = ExpandPatterns(trEntries, g.Initializer.Where(t => IsFloat(t.Name) && !bufferSet.Contains(t.Name) && read.Contains(t.Name)).Select(t => t.Name), "trainable");
            foreach (var name in tr)
            {
                if (!inits.ContainsKey(name)) throw new ArgumentException($"trainable '{name}' is not an initializer of the forward model");
                if (!read.Contains(name)) throw new ArgumentException($"trainable '{name}' is not read by any node of the forward model, so it cannot be trained");
                if (!IsFloat(name)) throw new ArgumentException($"trainable '{name}' is not an fp32 initializer (data type {inits[name].DataType})");
                if (bufferSet.Contains(name)) throw new ArgumentException($"trainable '{name}' is a batch-norm running statistic, which is a buffer");
            }
            var set = new HashSet<string>(tr, StringComparer.Ordinal);
            trainable = g.Initializer.Select(t => t.Name).Where(set.Contains).ToList();
        }
        else
        {
            var frozen = new HashSet<string>(ExpandPatterns(o.Frozen ?? [], g.Initializer.Select(t => t.Name), "frozen"), StringComparer.Ordinal);
            foreach (var f in frozen)
                if (!inits.ContainsKey(f)) throw new ArgumentException($"frozen '{f}' is not an initializer of the forward model");
            trainable = g.Initializer.Where(t => t.DataType == (int)TensorProto.Types.DataType.Float && !bufferSet.Contains(t.Name) && !frozen.Contains(t.Name) && !settingOnly.Contains(t.Name) && read.Contains(t.Name))
                .Select(t => t.Name).ToList();
        }
        if (trainable.Count == 0) throw new ArgumentException("no trainable parameters: the forward model has no fp32 initializers left to train");
        var inferenceBns = new HashSet<string>(StringComparer.Ordinal);
        if (o.FrozenBatchNorm)
        {
            // Initializers torch.onnx merged into Identity nodes are separate again here (InitializerUntying, applied first).
            var trainableSet = new HashSet<string>(trainable, StringComparer.Ordinal);
            var bns = g.Node.Where(n => n.OpType == "BatchNormalization").ToList();
            foreach (var n in bns)
                if (!trainableSet.Contains(n.Input[1]) && !trainableSet.Contains(n.Input[2]))
                    inferenceBns.Add(n.Output[0]);
            // A running statistic stays a buffer while any training-mode BatchNormalization still reads it.
            var stillBuffers = new HashSet<string>(bns.Where(n => !inferenceBns.Contains(n.Output[0]))
                .SelectMany(n => n.Input.Skip(3).Take(2)), StringComparer.Ordinal);
            buffers = buffers.Where(stillBuffers.Contains).ToList();
        }
        return new ForwardModelInfo(input.Name, shape, logits, (int)ld[1], trainable, buffers, shapes, inferenceBns);
    }

    /// <summary>
    /// Entries with '*' (any run of characters, e.g. "layer1.*" or "*.bias") are replaced by the <paramref name="candidates"/>
    /// they match, in model order; other entries pass through as exact names. A pattern that matches nothing is an error.
    /// </summary>
    internal static List<string> ExpandPatterns(IEnumerable<string> entries, IEnumerable<string> candidates, string what)
    {
        var names = candidates.ToList();
        var result = new List<string>();
        foreach (var entry in entries)
        {
            if (!entry.Contains('*')) { result.Add(entry); continue; }
            var regex = new System.Text.RegularExpressions.Regex(
                "^" + string.Join(".*", entry.Split('*').Select(System.Text.RegularExpressions.Regex.Escape)) + "$");
            var matched = names.Where(n => regex.IsMatch(n)).ToList();
            if (matched.Count == 0)
                throw new ArgumentException($"{what} pattern '{entry}' matches no initializer of the forward model (candidates: {string.Join(", ", names.Take(12))}{(names.Count > 12 ? ", ..." : "")})");
            result.AddRange(matched);
        }
        return result.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>Input positions that hold op settings rather than differentiable data.</summary>
    private static readonly Dictionary<string, int[]> SettingSlots = new(StringComparer.Ordinal)
    {
        ["Dropout"] = [1, 2],
        ["Clip"] = [1, 2],
        ["Pad"] = [1, 2, 3],
        ["Resize"] = [1, 2, 3],
    };

    /// <summary>
    /// Moves the named initializers of <paramref name="g"/> to graph inputs (same name, fp32, stored dims); returns their dims.
    /// Graph inputs that merely repeat an initializer that stays (old exporters list them) are dropped, so that every
    /// remaining input must be fed.
    /// </summary>
    public static Dictionary<string, long[]> LiftToInputs(GraphProto g, IEnumerable<string> names)
    {
        var result = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var lifting = new HashSet<string>(names, StringComparer.Ordinal);
        var staying = new HashSet<string>(g.Initializer.Select(t => t.Name).Where(n => !lifting.Contains(n)), StringComparer.Ordinal);
        for (int i = g.Input.Count - 1; i >= 0; i--) if (staying.Contains(g.Input[i].Name)) g.Input.RemoveAt(i);
        foreach (var name in names)
        {
            var t = g.Initializer.First(x => x.Name == name);
            g.Initializer.Remove(t);
            var dims = t.Dims.ToArray();
            for (int i = g.Input.Count - 1; i >= 0; i--) if (g.Input[i].Name == name) g.Input.RemoveAt(i);
            g.Input.Add(GraphBuilder.ValueInfo(name, ElementType.Float, dims.Select(d => (long?)d).ToArray()));
            result[name] = dims;
        }
        return result;
    }

    /// <summary>The fp32 values of an initializer of <paramref name="g"/>.</summary>
    public static HostTensor InitializerValue(GraphProto g, string name)
    {
        var t = g.Initializer.First(x => x.Name == name);
        return HostTensor.Of(name, t.Dims.ToArray(), Tensors.ToFloats(t));
    }
}
