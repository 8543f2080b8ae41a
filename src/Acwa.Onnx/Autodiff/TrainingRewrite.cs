using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Autodiff;

/// <summary>Turns a forward graph into its training form: BatchNormalization on batch statistics, Dropout in training mode.</summary>
internal static class TrainingRewrite
{
    /// <summary>doc_string that marks a BatchNormalization node whose mean/var inputs are the batch statistics (training form).</summary>
    public const string BatchNormMarker = "acwa.autodiff:batchnorm-training";

    /// <summary>
    /// Rewrites <c>b.Graph</c> in place (see <see cref="Rewrite"/>) and returns, per running mean/var value, the name of
    /// its updated value.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Apply(GraphBuilder b, ShapeTable shapes, TrainingRewriteOptions options) =>
        Rewrite(b, shapes, options).RunningStatistics;

    /// <summary>
    /// Rewrites <c>b.Graph</c> in place. Each BatchNormalization (inference form: X, scale, B, mean, var) but those in
    /// <see cref="TrainingRewriteOptions.InferenceBatchNorms"/> gets batch
    /// statistics mean = ReduceMean(X) and var = ReduceSumSquare(X - mean) / M over all axes but 1 (biased); the same
    /// inference-mode op (fused normalisation, runs on CUDA) normalises X - mean with a zero mean and var; the node is
    /// marked with <see cref="BatchNormMarker"/> so that <see cref="ReverseMode"/> applies the training-mode backward
    /// formula and sends dX to X.
    /// Updated running statistics: momentum * running + (1 - momentum) * batch (ONNX momentum, the node's attribute,
    /// default 0.9), with the unbiased variance for running_var when <see cref="TrainingRewriteOptions.UnbiasedRunningVariance"/>.
    /// A running statistic that arrives as Identity(initializer) (torch.onnx.export's deduplication of equal
    /// initializers) becomes an initializer of its own first. Each Dropout gets its mask per <see cref="TrainingRewriteOptions.DropoutMasks"/>. Shapes of new values are added to
    /// <paramref name="shapes"/>.
    /// </summary>
    /// <exception cref="NotSupportedException">A BatchNormalization's extra training outputs are used, two of them share a running-statistics value, or a Dropout ratio is not constant.</exception>
    public static TrainingRewriteResult Rewrite(GraphBuilder b, ShapeTable shapes, TrainingRewriteOptions options)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(shapes);
        ArgumentNullException.ThrowIfNull(options);
        var e = new GradEmitter(b, shapes);
        var stats = new Dictionary<string, string>(StringComparer.Ordinal);
        var masks = new List<DropoutMaskInput>();
        var targets = b.Graph.Node.Where(n => n.OpType == "Dropout"
            || (n.OpType == "BatchNormalization" && !options.InferenceBatchNorms.Contains(n.Output[0]))).ToList();
        var updates = new List<RunningUpdate>();
        var claimed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in targets)
        {
            if (n.OpType == "BatchNormalization") updates.Add(RewriteBatchNorm(e, n, options, claimed));
            else RewriteDropout(e, n, options, masks);
        }
        foreach (var group in updates.GroupBy(u => u.Type)) EmitRunningUpdates(e, group.ToList(), options, stats);
        return new TrainingRewriteResult(stats, masks);
    }

    /// <summary>One BatchNormalization's running statistics and the batch values that update them.</summary>
    private sealed record RunningUpdate(string RunMean, string RunVar, string Mean, string BatchVar, double Momentum, long Channels, ElementType Type);

    /// <summary>
    /// new = momentum * running + (1 - momentum) * batch for every running mean and variance of one element type at
    /// once: the running values and the batch values each concatenated into one vector, one Mul/Mul/Add over it, one
    /// Split back into the per-node results (a handful of nodes instead of four per statistic: on a GPU each node is a
    /// kernel launch). Per element the same two products and sum as one node per statistic would compute.
    /// </summary>
    private static void EmitRunningUpdates(GradEmitter e, List<RunningUpdate> updates, TrainingRewriteOptions o, Dictionary<string, string> stats)
    {
        var t = updates[0].Type;
        var running = updates.SelectMany(u => new[] { u.RunMean, u.RunVar }).ToList();
        var batch = updates.SelectMany(u => new[] { u.Mean, u.BatchVar }).ToList();
        var sizes = updates.SelectMany(u => new[] { u.Channels, u.Channels }).ToArray();
        long total = sizes.Sum();
        string Reg(string v) { e.Shapes.Set(v, [total], t); return v; }
        string Factor(Func<double, double> f)
        {
            var values = updates.SelectMany(u => Enumerable.Repeat(f(u.Momentum), (int)(2 * u.Channels))).ToArray();
            return values.All(v => v == values[0]) ? e.Scalar(values[0], t) : e.Const("bn_momentum", [total], values, t);
        }
        var run = Reg(e.Op("Concat", running, Attr.Int("axis", 0)));
        var bat = Reg(e.Op("Concat", batch, Attr.Int("axis", 0)));
        var next = Reg(e.Op("Add", [Reg(e.Mul(run, Factor(m => m))), Reg(e.Mul(bat, Factor(m => 1 - m)))]));
        var parts = o.Opset >= 13
            ? e.B.OpMulti("Split", [next, e.I64(sizes)], sizes.Length, Attr.Int("axis", 0))
            : e.B.OpMulti("Split", [next], sizes.Length, Attr.Int("axis", 0), Attr.Ints("split", sizes));
        for (int i = 0; i < updates.Count; i++)
        {
            e.Shapes.Set(parts[2 * i], [updates[i].Channels], t);
            e.Shapes.Set(parts[2 * i + 1], [updates[i].Channels], t);
            stats[updates[i].RunMean] = parts[2 * i];
            stats[updates[i].RunVar] = parts[2 * i + 1];
        }
    }

    private static RunningUpdate RewriteBatchNorm(GradEmitter e, NodeProto n, TrainingRewriteOptions o, HashSet<string> claimed)
    {
        var b = e.B;
        for (int i = 1; i < n.Output.Count; i++)
            if (n.Output[i].Length > 0 && (b.Graph.Node.Any(m => m.Input.Contains(n.Output[i])) || b.Graph.Output.Any(v => v.Name == n.Output[i])))
                throw new NotSupportedException($"{n.Describe()}: its training outputs (running mean/var) are used by the graph; export the model in inference form");
        var x = n.Input[0];
        var xd = e.Shapes[x];
        var t = e.Shapes.TypeOf(x);
        long ch = xd[1];
        var axes = Enumerable.Range(0, xd.Length).Where(i => i != 1).Select(i => (long)i).ToArray();
        var bshape = e.I64(Enumerable.Range(0, xd.Length).Select(i => i == 1 ? ch : 1L).ToArray());
        double momentum = n.GetFloat("momentum", 0.9f);
        string runMean = Untie(e, n.Input[3]), runVar = Untie(e, n.Input[4]);
        foreach (var buffer in new[] { runMean, runVar })
            if (!claimed.Add(buffer))
                throw new NotSupportedException($"{n.Describe()}: running statistic '{buffer}' is shared with another BatchNormalization; each node needs its own buffers");
        int index = b.Graph.Node.IndexOf(n);
        int before = b.Graph.Node.Count;

        long[] cDims = [ch];
        var bDims = Enumerable.Range(0, xd.Length).Select(i => i == 1 ? ch : 1L).ToArray();
        string Reg(string v, long[] dims) { e.Shapes.Set(v, dims, t); return v; }
        // ReduceMean and ReduceSumSquare take their axes as an input from opset 18, as an attribute before.
        string Reduce(string op, string v) => Reg(o.Opset >= 18
            ? e.Op(op, [v, e.I64(axes)], Attr.Int("keepdims", 0))
            : e.Op(op, [v], Attr.Ints("axes", axes), Attr.Int("keepdims", 0)), cDims);
        var mean = Reduce("ReduceMean", x);
        var centered = Reg(e.Op("Sub", [x, Reg(e.Op("Reshape", [mean, bshape]), bDims)]), xd);
        // var = ReduceSumSquare(X - mean) / M: one pass over the centred values (Mul + ReduceMean made two).
        var sumSquares = Reduce("ReduceSumSquare", centered);
        var variance = Reg(axes.All(a => xd[a] >= 0)
            ? e.Scale(sumSquares, 1.0 / axes.Aggregate(1L, (p, a) => p * xd[a]), t)
            : e.Op("Div", [sumSquares, e.ElementCount(x, axes, t)]), cDims);

        string batchVar = variance;
        if (o.UnbiasedRunningVariance)
        {
            if (axes.All(a => xd[a] >= 0))
            {
                long m = axes.Aggregate(1L, (p, a) => p * xd[a]);
                batchVar = Reg(e.Scale(variance, m > 1 ? (double)m / (m - 1) : 1.0, t), cDims);
            }
            else
            {
                // M / (M - 1) with M = elements per channel, counted on the device at run time (no host shape arithmetic).
                var m = e.ElementCount(x, axes, t);
                batchVar = Reg(e.Mul(variance, e.Op("Div", [m, e.Op("Sub", [m, e.Scalar(1, t)])])), cDims);
            }
        }
        b.MoveAppendedTo(before, index);

        // The node normalises X - mean with a zero mean input: ORT's BatchNormalization computes X a + (B - mean a)
        // (a = scale / sqrt(var + eps)), which cancels catastrophically in float32 when a channel's mean is large against
        // its spread (torchvision RegNet-Y's 2x2 maps: median gradient error 1.5e-2 against PyTorch float64, 4.6e-5 centred).
        // The gradient rule sends dX to X itself (BatchNormalization's rule, training form).
        n.Input[0] = centered;
        n.Input[3] = e.Const("bn_zero_mean", cDims, new double[ch], t);
        n.Input[4] = variance;
        while (n.Output.Count > 1) n.Output.RemoveAt(n.Output.Count - 1);
        var training = n.FindAttribute("training_mode");
        if (training is not null) n.Attribute.Remove(training);
        n.DocString = BatchNormMarker;
        return new RunningUpdate(runMean, runVar, mean, batchVar, momentum, ch, t);
    }

    /// <summary>
    /// torch.onnx.export deduplicates equal initializers, so a fresh BatchNorm's running_var (ones) can arrive as
    /// Identity(bn.weight) and running_mean (zeros) as Identity(bn.bias). Such an Identity of an initializer becomes an
    /// initializer of its own (same name as the Identity's output, same values), so the buffer is no longer tied to
    /// the parameter. Returns the buffer's value name.
    /// </summary>
    private static string Untie(GradEmitter e, string value)
    {
        var g = e.B.Graph;
        var producer = g.Node.FirstOrDefault(m => m.Output.Contains(value));
        if (producer is null || producer.OpType != "Identity") return value;
        var source = g.Initializer.FirstOrDefault(t => t.Name == producer.Input[0]);
        if (source is null) return value;
        var copy = source.Clone();
        copy.Name = value;
        g.Initializer.Add(copy);
        g.Node.Remove(producer);
        return value;
    }

    private static void RewriteDropout(GradEmitter e, NodeProto n, TrainingRewriteOptions o, List<DropoutMaskInput> masks)
    {
        var b = e.B;
        double ratio = GradientRules.DropoutRatio(e, n) ?? throw new NotSupportedException($"{n.Describe()}: Dropout ratio must be a constant to rewrite it for training");
        var x = n.Input[0];
        var xd = e.Shapes[x];
        var t = e.Shapes.TypeOf(x);
        var name = n.Name.Length > 0 ? n.Name : n.Output[0];
        // A fed mask needs its shape at any batch size: each batch-dependent axis must be k times the batch (written -k;
        // attention over N x windows rows in Swin is 64 N). Otherwise the node draws its mask in the graph.
        var maskDims = xd.Select((d, i) => d >= 0 ? d : -e.Shapes.BatchMultiple(x, i)).ToArray();
        if (o.DropoutMasks == DropoutMaskSource.InGraph || maskDims.Contains(0))
        {
            if (n.Input.Count < 2 || n.Input[1].Length == 0)
            {
                var r = e.Scalar(ratio, t);
                if (n.Input.Count < 2) n.Input.Add(r); else n.Input[1] = r;
            }
            var on = b.Initializer(Tensors.Bool("ad_training_mode", [], [true]));
            if (n.Input.Count < 3) n.Input.Add(on); else n.Input[2] = on;
            if (n.FindAttribute("ratio") is { } ra) n.Attribute.Remove(ra);
            if (n.Output.Count < 2 || n.Output[1].Length == 0)
            {
                var mask = b.Unique(n.Output[0] + "_mask");
                if (n.Output.Count < 2) n.Output.Add(mask); else n.Output[1] = mask;
            }
            e.Shapes.Set(n.Output[1], xd, ElementType.Bool);
            return;
        }
        var maskInput = b.Unique(name + "_mask");
        b.Graph.Input.Add(GraphBuilder.ValueInfo(maskInput, ElementType.Bool, xd.Select(d => d < 0 ? (long?)null : d).ToArray()));
        e.Shapes.Set(maskInput, xd, ElementType.Bool);
        masks.Add(new DropoutMaskInput(maskInput, maskDims, ratio));
        int index = b.Graph.Node.IndexOf(n);
        b.Graph.Node.RemoveAt(index);
        int before = b.Graph.Node.Count;
        var scaled = e.Scale(e.Op("Cast", [maskInput], Attr.Int("to", (long)t)), ratio < 1 ? 1.0 / (1.0 - ratio) : 0.0, t);
        var mul = new NodeProto { OpType = "Mul", Name = b.Unique(name + "_train") };
        mul.Input.Add(x); mul.Input.Add(scaled); mul.Output.Add(n.Output[0]);
        b.Graph.Node.Add(mul);
        if (n.Output.Count > 1 && n.Output[1].Length > 0)
        {
            var id = new NodeProto { OpType = "Identity", Name = b.Unique(name + "_mask_out") };
            id.Input.Add(maskInput); id.Output.Add(n.Output[1]);
            b.Graph.Node.Add(id);
        }
        b.MoveAppendedTo(before, index);
    }
}
