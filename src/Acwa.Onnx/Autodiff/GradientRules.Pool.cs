using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Autodiff;

internal static partial class GradientRules
{
    /// <summary>
    /// MaxPool: dY placed at the argmax positions from the forward's Indices output (added when missing): MaxUnpool for
    /// non-overlapping windows on CPU, else ScatterElements with reduction add (see <see cref="MaxPoolGradMethod"/>).
    /// </summary>
    private static void MaxPool(RuleContext c)
    {
        if (!c.Needs(0)) return;
        if (c.Node.GetInt("storage_order", 0) != 0) throw c.Unsupported("MaxPool with storage_order 1 is not supported");
        var yd = c.Dims(c.Out(0));
        string idx;
        if (c.Node.Output.Count >= 2 && c.Out(1).Length > 0) idx = c.Out(1);
        else
        {
            idx = c.E.B.Unique(c.Out(0) + "_indices");
            if (c.Node.Output.Count >= 2) c.Node.Output[1] = idx; else c.Node.Output.Add(idx);
            c.S.Set(idx, yd, ElementType.Int64);
        }
        var x = c.In(0);
        var xd = c.Dims(x);
        if (ResolveMaxPoolMethod(c) == MaxPoolGradMethod.IndicesUnpool)
        {
            var k = c.Node.GetInts("kernel_shape")!;
            // Over a Relu, dY goes only to window maxima, where the Relu's output equals Y: apply the Relu's mask here at
            // pooled size (same values: dY or 0) and let the Relu rule pass the unpooled gradient through.
            bool overRelu = c.E.Producer(x)?.OpType == "Relu";
            var dy = overRelu ? ReluMask(c, c.Dy0, c.Out(0)) : c.Dy0;
            var g = c.E.Op("MaxUnpool", [dy, idx], Attr.Ints("kernel_shape", k), Attr.Ints("strides", k));
            if (overRelu) c.E.ReluMaskedGradients[g] = x;
            c.Add(0, g);
            return;
        }
        // Flat zeros of X's size, made on the device (GradEmitter.Zeros: no host shape arithmetic).
        var zeros = c.E.Op("Reshape", [c.E.Zeros(xd, x, c.T), c.E.I64(-1)]);
        var flatIdx = c.E.Op("Reshape", [idx, c.E.I64(-1)]);
        var flatDy = c.E.Op("Reshape", [c.Dy0, c.E.I64(-1)]);
        var scattered = c.E.Op("ScatterElements", [zeros, flatIdx, flatDy], Attr.Int("axis", 0), Attr.String("reduction", "add"));
        c.Add(0, c.E.ReshapeTo(scattered, xd, x));
    }

    /// <summary>
    /// Auto: "cpu" -> IndicesUnpool where it is exact (ORT's CPU MaxUnpool is faster than ConstantOfShape + ScatterElements:
    /// see docs/autodiff.md, "Rules", MaxPool), "cuda" -> IndicesScatter (MaxUnpool has no CUDA kernel). IndicesUnpool falls back to
    /// IndicesScatter unless the windows are non-overlapping 2-D windows that tile X: strides equal to kernel_shape,
    /// dilations 1, no padding (pads 0, auto_pad NOTSET or VALID), ceil_mode 0, H and W multiples of the kernel (then
    /// MaxUnpool's own output size is X's, and no output_shape input - host shape arithmetic - is needed), float only
    /// (ORT's CPU MaxUnpool has no double kernel).
    /// </summary>
    internal static MaxPoolGradMethod ResolveMaxPoolMethod(RuleContext c)
    {
        var m = c.Options.MaxPoolGrad;
        if (m == MaxPoolGradMethod.Auto) m = IsCuda(c.Options) ? MaxPoolGradMethod.IndicesScatter : MaxPoolGradMethod.IndicesUnpool;
        if (m != MaxPoolGradMethod.IndicesUnpool) return m;
        var k = c.Node.GetInts("kernel_shape");
        var s = c.Node.GetInts("strides") ?? [1, 1];
        var d = c.Node.GetInts("dilations") ?? [1, 1];
        var p = c.Node.GetInts("pads") ?? [0, 0, 0, 0];
        var auto = c.Node.GetString("auto_pad", "NOTSET");
        var xd = c.Dims(c.In(0));
        bool disjoint = k is { Length: 2 } && s.SequenceEqual(k) && d.All(v => v == 1) && p.All(v => v == 0)
            && auto is "NOTSET" or "VALID" && c.Node.GetInt("ceil_mode", 0) == 0
            && c.T == ElementType.Float && xd.Length == 4 && xd[2] > 0 && xd[3] > 0 && xd[2] % k[0] == 0 && xd[3] % k[1] == 0;
        return disjoint ? MaxPoolGradMethod.IndicesUnpool : MaxPoolGradMethod.IndicesScatter;
    }

    /// <summary>AveragePool: dY divided by the window counts, spread back by a depthwise Conv (or ConvTranspose) with a ones kernel.</summary>
    private static void AveragePool(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var x = c.In(0);
        var xd = c.Dims(x); var yd = c.Dims(c.Out(0));
        var k = c.Node.GetInts("kernel_shape") ?? throw c.Unsupported("AveragePool without kernel_shape");
        if (k.Length != 2 || xd.Length != 4)
            throw c.Unsupported($"only 2-D windows are supported (kernel_shape of 2 values, rank-4 input; training graphs lower 1-D ones first: Conv1dLowering); kernel_shape has {k.Length}, input shape {ShapeTable.Format(xd)}");
        var g = Geometry(c, xd, yd, k[0], k[1], xd[1]);
        // ceil_mode 1 (timm's ResNet-D shortcuts, AvgPool2d(ceil_mode=True)): the last window may reach past the end
        // padding; that overhang counts in no divisor and receives no gradient, so it is extra end padding for the sweep.
        long overH = Math.Max(0, (g.Ho - 1) * g.Sh + (g.Kh - 1) * g.Dh + 1 - (g.H + g.PadTop + g.PadBottom));
        long overW = Math.Max(0, (g.Wo - 1) * g.Sw + (g.Kw - 1) * g.Dw + 1 - (g.W + g.PadLeft + g.PadRight));
        bool includePad = c.Node.GetInt("count_include_pad", 0) != 0;
        string dys;
        if (includePad && overH == 0 && overW == 0) dys = c.E.Scale(c.Dy0, 1.0 / (g.Kh * g.Kw), c.T);
        else
        {
            // Per window: the taps inside the input (count_include_pad 0) or inside input and padding (1).
            long lowH = includePad ? -g.PadTop : 0, highH = includePad ? g.H + g.PadBottom : g.H;
            long lowW = includePad ? -g.PadLeft : 0, highW = includePad ? g.W + g.PadRight : g.W;
            var inv = new double[g.Ho * g.Wo];
            for (long i = 0; i < g.Ho; i++)
                for (long j = 0; j < g.Wo; j++)
                {
                    long rows = 0, cols = 0;
                    for (long a = 0; a < g.Kh; a++) { long p = i * g.Sh - g.PadTop + a * g.Dh; if (p >= lowH && p < highH) rows++; }
                    for (long b = 0; b < g.Kw; b++) { long p = j * g.Sw - g.PadLeft + b * g.Dw; if (p >= lowW && p < highW) cols++; }
                    inv[i * g.Wo + j] = rows * cols == 0 ? 0 : 1.0 / (rows * cols);
                }
            dys = c.E.Mul(c.Dy0, c.E.Const("ad_avgpool_inv_count", [1, 1, g.Ho, g.Wo], inv, c.T));
        }
        g = g with { PadBottom = g.PadBottom + overH, PadRight = g.PadRight + overW };
        var ones = c.E.Const("ad_avgpool_ones", [xd[1], 1, g.Kh, g.Kw], Enumerable.Repeat(1.0, (int)(xd[1] * g.Kh * g.Kw)).ToArray(), c.T);
        c.Add(0, ResolveInputMethod(c.Options, g, depthwise: false) == ConvInputGradMethod.ConvTranspose
            ? ConvInputGradTranspose(c, dys, ones, g)
            : ConvInputGradFlipped(c, dys, ones, g));
    }

    private static void GlobalAveragePool(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var x = c.In(0);
        var xd = c.Dims(x);
        long spatial = 1;
        for (int i = 2; i < xd.Length; i++)
        {
            if (xd[i] < 0) throw c.Unsupported("GlobalAveragePool over batch-dependent spatial sizes is not supported");
            spatial *= xd[i];
        }
        c.Add(0, c.E.ExpandTo(c.E.Scale(c.Dy0, 1.0 / spatial, c.T), c.Dims(c.Out(0)), xd, x, spreadSmallTrailing: !IsCuda(c.Options)));
    }

    /// <summary>
    /// BatchNormalization. Inference form (running statistics are constants): dX = dY gamma / sqrt(var + eps).
    /// Training form (node marked by <see cref="TrainingRewrite"/>, mean/var inputs are the batch statistics), with
    /// r = 1 / sqrt(var + eps), xc = X - mean, a = gamma r and M the elements per channel:
    /// dbeta = sum(dY), dgamma = r sum(dY xc), dX = a (dY - dbeta / M - xc r dgamma / M)
    /// = a dY + BatchNormalization(xc; scale -a dgamma / M, bias -a dbeta / M, mean 0, var) - the per-channel affine part
    /// in one fused pass, six full-size passes in all (the term-by-term form took ten). xc is the forward's own centred
    /// value when TrainingRewrite made one, so X itself need not live until the backward pass.
    /// </summary>
    private static void BatchNormalization(RuleContext c)
    {
        if (c.Node.GetInt("training_mode", 0) != 0)
            throw c.Unsupported("BatchNormalization with training_mode 1 is not differentiated directly; apply TrainingRewrite first");
        bool training = c.Node.DocString == TrainingRewrite.BatchNormMarker;
        if (!training && (c.Needs(3) || c.Needs(4)))
            throw c.Unsupported("gradients with respect to BatchNormalization running statistics are not supported");
        var x = c.In(0);
        var xd = c.Dims(x);
        var t = c.T;
        long ch = xd[1];
        var axes = Enumerable.Range(0, xd.Length).Where(i => i != 1).Select(i => (long)i).ToArray();
        var bshape = c.E.I64(Enumerable.Range(0, xd.Length).Select(i => i == 1 ? ch : 1L).ToArray());
        double eps = c.Node.GetFloat("epsilon", 1e-5f);
        var dy = c.Dy0;
        var invStd = c.E.Op("Reciprocal", [c.E.Op("Sqrt", [c.E.Op("Add", [c.In(4), c.E.Scalar(eps, t)])])]);
        string? centered = null;
        // The training form (TrainingRewrite) is fed X - mean with a zero mean: its input is the centred X, and dX goes to
        // X itself (the statistics' own nodes get no gradient: the formula below accounts for them).
        string target = x;
        if (training)
        {
            if (c.E.Producer(x) is not { OpType: "Sub" } sub)
                throw c.Unsupported("the training form of BatchNormalization expects its input to be X - mean (TrainingRewrite)");
            centered = x;
            target = sub.Input[0];
        }
        string Centered() => centered ??= c.E.Op("Sub", [x, c.E.Op("Reshape", [c.In(3), bshape])]); // inference form: X - running mean
        string? dbeta = null, dgamma = null;
        if (c.Needs(2) || (training && c.Needs(0))) dbeta = c.E.ReduceSum(dy, axes, keepDims: false);
        if (c.Needs(1) || (training && c.Needs(0)))
            dgamma = c.E.Mul(c.E.ReduceSum(c.E.Mul(dy, Centered()), axes, keepDims: false), invStd);
        if (c.Needs(2)) c.Add(2, dbeta!);
        if (c.Needs(1)) c.Add(1, dgamma!);
        if (!c.Needs(0)) return;
        var a = c.E.Mul(c.In(1), invStd);
        var scaled = c.E.Mul(dy, c.E.Op("Reshape", [a, bshape]));
        if (!training) { c.Add(0, scaled); return; }
        // 1/M with M = elements per channel; a batch-dependent M is counted on the device (GradEmitter.ElementCount).
        string invM;
        if (axes.All(i => xd[i] >= 0)) invM = c.E.Scalar(1.0 / axes.Aggregate(1L, (p, i) => p * xd[i]), t);
        else invM = c.E.Op("Div", [c.E.Scalar(1, t), c.E.ElementCount(x, axes, t)]);
        var negAOverM = c.E.Op("Neg", [c.E.Mul(a, invM)]);
        var affine = c.E.Op("BatchNormalization",
            [Centered(), c.E.Mul(negAOverM, dgamma!), c.E.Mul(negAOverM, dbeta!), c.E.Const("zeros", [ch], new double[ch], t), c.In(4)],
            Attr.Float("epsilon", (float)eps));
        var dx = c.E.Op("Add", [scaled, affine]);
        c.AddTo(target, dx);
    }

    /// <summary>
    /// LayerNormalization (axis, epsilon; normalised over axes axis..rank-1, D elements each). With xhat = (X - mean) r,
    /// r = 1 / sqrt(var + eps) and g = dY Scale: dX = r (g - mean(g) - xhat mean(g xhat)), dScale = sum of dY xhat and
    /// dB = sum of dY over the leading axes (reduced to their shapes). Float graphs take mean and r from the forward
    /// node's optional Mean and InvStdDev outputs (added when missing; computed in float, stash_type 1), which saves the
    /// backward two reductions and four passes; double graphs recompute them from X (the stash would be float).
    /// Gradients reaching the Mean and InvStdDev outputs themselves add dMean / D and -dInvStdDev r^3 (X - mean) / D.
    /// </summary>
    private static void LayerNormalization(RuleContext c)
    {
        var x = c.In(0);
        var xd = c.Dims(x);
        int r = xd.Length;
        long axis = c.Node.GetInt("axis", -1);
        if (axis < 0) axis += r;
        var norm = Enumerable.Range((int)axis, r - (int)axis).Select(i => (long)i).ToArray();
        if (norm.Any(a => xd[a] < 0)) throw c.Unsupported("LayerNormalization over an axis whose size depends on the batch is not supported");
        double invD = 1.0 / norm.Aggregate(1L, (p, a) => p * xd[a]);
        double eps = c.Node.GetFloat("epsilon", 1e-5f);
        var t = c.T;
        string Mean(string v) => c.E.Scale(c.E.ReduceSum(v, norm, keepDims: true), invD, t);
        string centered, invStd;
        if (t == ElementType.Float && c.Node.GetInt("stash_type", 1) == 1)
        {
            var statDims = xd.Select((d, i) => i < axis ? d : 1L).ToArray();
            centered = c.E.Op("Sub", [x, ForwardOutput(c, 1, "_mean", statDims, t)]);
            invStd = ForwardOutput(c, 2, "_inv_std", statDims, t);
        }
        else
        {
            centered = c.E.Op("Sub", [x, Mean(x)]);
            invStd = c.E.Op("Reciprocal", [c.E.Op("Sqrt", [c.E.Op("Add", [Mean(c.E.Mul(centered, centered)), c.E.Scalar(eps, t)])])]);
        }
        var xhat = c.E.Mul(centered, invStd);
        var yd = c.Dims(c.Out(0));
        var dy = c.Dy(0);
        if (dy is not null && c.Needs(1)) c.Add(1, c.E.Unbroadcast(c.E.Mul(dy, xhat), yd, c.Dims(c.In(1)), c.In(1)));
        if (dy is not null && c.Needs(2)) c.Add(2, c.E.Unbroadcast(dy, yd, c.Dims(c.In(2)), c.In(2)));
        if (!c.Needs(0)) return;
        if (dy is not null)
        {
            var g = c.E.Mul(dy, c.In(1));
            var inner = c.E.Op("Sub", [c.E.Op("Sub", [g, Mean(g)]), c.E.Mul(xhat, Mean(c.E.Mul(g, xhat)))]);
            c.Add(0, c.E.Mul(invStd, inner));
        }
        // The optional Mean and InvStdDev outputs on the path: d mean / dX = 1/D, d r / dX = -r^3 (X - mean) / D.
        if (c.Dy(1) is { } dMean)
        {
            var statDims = xd.Select((d, i) => i < axis ? d : 1L).ToArray();
            c.Add(0, c.E.ExpandTo(c.E.Scale(dMean, invD, t), statDims, xd, x));
        }
        if (c.Dy(2) is { } dInvStd)
        {
            var r3 = c.E.Mul(invStd, c.E.Mul(invStd, invStd));
            c.Add(0, c.E.Mul(centered, c.E.Mul(dInvStd, c.E.Scale(r3, -invD, t))));
        }
    }

    /// <summary>
    /// Output <paramref name="index"/> of the forward node, added (and registered in the shape table) when the node does
    /// not produce it yet; lower optional outputs it lacks get empty names.
    /// </summary>
    private static string ForwardOutput(RuleContext c, int index, string suffix, long[] dims, ElementType type)
    {
        if (c.Node.Output.Count > index && c.Node.Output[index].Length > 0) return c.Node.Output[index];
        while (c.Node.Output.Count < index) c.Node.Output.Add("");
        var name = c.E.B.Unique(c.Out(0) + suffix);
        if (c.Node.Output.Count == index) c.Node.Output.Add(name); else c.Node.Output[index] = name;
        c.S.Set(name, dims, type);
        return name;
    }

    /// <summary>Dropout: identity in inference mode; dY mask / (1 - ratio) in training mode (the mask output is added when missing).</summary>
    private static void Dropout(RuleContext c)
    {
        if (!c.Needs(0)) return;
        bool training = c.In(2).Length > 0 && (c.E.TryConstBool(c.In(2)) ?? throw c.Unsupported("Dropout training_mode must be a constant"));
        if (!training) { c.Add(0, c.Dy0); return; }
        double ratio = DropoutRatio(c.E, c.Node) ?? throw c.Unsupported("Dropout ratio must be a constant");
        string mask;
        if (c.Node.Output.Count >= 2 && c.Out(1).Length > 0) mask = c.Out(1);
        else
        {
            mask = c.E.B.Unique(c.Out(0) + "_mask");
            if (c.Node.Output.Count >= 2) c.Node.Output[1] = mask; else c.Node.Output.Add(mask);
            c.S.Set(mask, c.Dims(c.Out(0)), ElementType.Bool);
        }
        var m = c.E.Op("Cast", [mask], Attr.Int("to", (long)c.T));
        c.Add(0, c.E.Mul(c.Dy0, c.E.Scale(m, 1.0 / (1.0 - ratio), c.T)));
    }

    internal static double? DropoutRatio(GradEmitter e, Graphs.Proto.NodeProto n)
    {
        if (n.Input.Count > 1 && n.Input[1].Length > 0) return e.TryConstScalar(n.Input[1]);
        return n.GetFloat("ratio", 0.5f);
    }
}
