using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Autodiff;

internal static partial class GradientRules
{
    /// <summary>Geometry of a 2-D convolution or pooling window, with SAME/VALID auto_pad resolved.</summary>
    internal sealed record ConvGeometry(long H, long W, long Ho, long Wo, long Kh, long Kw, long Sh, long Sw, long Dh, long Dw,
        long PadTop, long PadLeft, long PadBottom, long PadRight, long Group);

    internal static ConvGeometry Geometry(RuleContext c, long[] xd, long[] yd, long kh, long kw, long group) =>
        Geometry(c.Node, xd, yd, kh, kw, group);

    /// <inheritdoc cref="ConvGeometry"/>
    /// <exception cref="NotSupportedException">Not a 2-D window, or spatial sizes that depend on the batch (names the node).</exception>
    internal static ConvGeometry Geometry(Graphs.Proto.NodeProto node, long[] xd, long[] yd, long kh, long kw, long group)
    {
        if (xd.Length != 4) throw new NotSupportedException($"{node.Describe()}: only 2-D spatial windows (rank-4 input) are supported; input has shape {ShapeTable.Format(xd)}");
        if (xd[2] < 0 || xd[3] < 0 || yd[2] < 0 || yd[3] < 0) throw new NotSupportedException($"{node.Describe()}: spatial sizes that depend on the batch are not supported");
        var s = node.GetInts("strides") ?? [1, 1];
        var d = node.GetInts("dilations") ?? [1, 1];
        var p = node.GetInts("pads") ?? [0, 0, 0, 0];
        var auto = node.GetString("auto_pad", "NOTSET");
        if (auto is "SAME_UPPER" or "SAME_LOWER")
        {
            p = new long[4];
            long[] k = [kh, kw], x = [xd[2], xd[3]];
            for (int i = 0; i < 2; i++)
            {
                long outSize = (x[i] + s[i] - 1) / s[i];
                long total = Math.Max((outSize - 1) * s[i] + (k[i] - 1) * d[i] + 1 - x[i], 0);
                long small = total / 2, big = total - small;
                p[i] = auto == "SAME_UPPER" ? small : big;
                p[i + 2] = auto == "SAME_UPPER" ? big : small;
            }
        }
        else if (auto == "VALID") p = [0, 0, 0, 0];
        return new ConvGeometry(xd[2], xd[3], yd[2], yd[3], kh, kw, s[0], s[1], d[0], d[1], p[0], p[1], p[2], p[3], group);
    }

    private static void Conv(RuleContext c)
    {
        var x = c.In(0); var w = c.In(1);
        var xd = c.Dims(x); var wd = c.Dims(w); var yd = c.Dims(c.Out(0));
        if (xd.Length != 4 || wd.Length != 4)
            throw c.Unsupported($"only 2-D convolutions (rank-4 input and weight) are supported (training graphs lower 1-D ones first: Conv1dLowering); input has shape {ShapeTable.Format(xd)}, weight {ShapeTable.Format(wd)}");
        var g = Geometry(c, xd, yd, wd[2], wd[3], c.Node.GetInt("group", 1));
        var dy = c.Dy0;
        if (c.Needs(2)) c.Add(2, c.E.ReduceSum(dy, [0, 2, 3], keepDims: false));
        if (c.Needs(0))
        {
            var method = ResolveInputMethod(c.Options, g, IsDepthwise(xd, wd, g));
            c.Add(0, method switch
            {
                ConvInputGradMethod.ConvTranspose => ConvInputGradTranspose(c, dy, w, g),
                ConvInputGradMethod.DepthwiseDense => ConvInputGradDepthwiseDense(c, dy, w, xd, g),
                _ => ConvInputGradFlipped(c, dy, FlipKernel(c, w, wd, g.Group), g),
            });
        }
        if (c.Needs(1))
        {
            var method = ResolveWeightMethod(c.Options, g, xd[1], wd[0], IsDepthwise(xd, wd, g));
            c.Add(1, method switch
            {
                ConvWeightGradMethod.SlicedPatchesMatMul => WeightGradSlicedPatches(c, x, dy, xd, wd, g),
                ConvWeightGradMethod.Im2ColConvMatMul => WeightGradIm2ColConv(c, x, dy, xd, wd, g),
                ConvWeightGradMethod.DepthwiseDense => WeightGradDepthwiseDense(c, x, dy, xd, wd, g),
                ConvWeightGradMethod.ConvOverTransposed when g.Group == 1 => WeightGradConvOverTransposed(c, x, dy, wd, g),
                ConvWeightGradMethod.PerTapGemm when g.Group == 1 => WeightGradPerTapGemm(c, x, dy, xd, wd, g),
                _ => WeightGradTapsGemm(c, x, dy, xd, wd, g),
            });
        }
    }

    /// <summary>
    /// Auto: "cuda" -> ConvTranspose (cuDNN's backward-data kernel); "cpu" -> DepthwiseDense for depthwise convolutions
    /// on small maps (see <see cref="DenseInputGradMaxPairs"/>), else FlippedConv for stride 1, ConvTranspose for larger
    /// strides (zero-interleaving makes the flipped Conv several times slower there). Measured: see docs/autodiff.md,
    /// "Measured costs of the pieces".
    /// </summary>
    internal static ConvInputGradMethod ResolveInputMethod(GradientOptions o, ConvGeometry g, bool depthwise)
    {
        var m = o.ConvInputGrad;
        if (m == ConvInputGradMethod.Auto)
            m = IsCuda(o) ? ConvInputGradMethod.ConvTranspose
                : depthwise && g.Ho * g.Wo * g.H * g.W <= DenseInputGradMaxPairs ? ConvInputGradMethod.DepthwiseDense
                : ConvInputGradMethod.FlippedConvStride1ElseTranspose;
        if (m == ConvInputGradMethod.DepthwiseDense && !depthwise) m = ConvInputGradMethod.FlippedConvStride1ElseTranspose;
        if (m == ConvInputGradMethod.FlippedConvStride1ElseTranspose)
            m = g.Sh == 1 && g.Sw == 1 ? ConvInputGradMethod.FlippedConv : ConvInputGradMethod.ConvTranspose;
        return m;
    }

    /// <summary>
    /// Auto: "cpu" -> DepthwiseDense for depthwise convolutions on small maps (see <see cref="DenseWeightGradMaxPairs"/>),
    /// else Im2ColConvMatMul (one depthwise Conv replaces the k k strided Slices, the Concat and the Pad of
    /// SlicedPatchesMatMul; see docs/autodiff.md, "Whole training steps on the CPU"); "cuda" -> SlicedPatchesMatMul
    /// (fastest on an H100 in docs/design.md, and on whole captured ResNet-32 steps on an H200: see docs/gpu.md,
    /// "What makes the GPU step fast"). The batched
    /// MatMul forms beat the one-GEMM forms on CPU: it splits over the batch, while the one-GEMM forms have a tiny
    /// [Cout, Cin k k] output and a huge inner dimension that ORT's CPU GEMM does not split. Measured: docs/autodiff.md.
    /// </summary>
    internal static ConvWeightGradMethod ResolveWeightMethod(GradientOptions o, ConvGeometry g, long cin, long cout, bool depthwise)
    {
        var m = o.ConvWeightGrad;
        if (m == ConvWeightGradMethod.DepthwiseDense && !depthwise) return ConvWeightGradMethod.Im2ColConvMatMul;
        if (m != ConvWeightGradMethod.Auto) return m;
        if (IsCuda(o)) return ConvWeightGradMethod.SlicedPatchesMatMul;
        if (depthwise) return g.Ho * g.Wo * g.H * g.W <= DenseWeightGradMaxPairs ? ConvWeightGradMethod.DepthwiseDense : ConvWeightGradMethod.Im2ColConvMatMul;
        // The batched forms make per-sample products [N, Cin/g k k, Cout/g]; on small maps (squeeze-excite 1x1 convs, the
        // last stages) these outgrow the inputs and one GEMM over batch and positions wins (TapsGemm).
        double k = g.Kh * g.Kw, products = cin / g.Group * k * (cout / g.Group), inputs = g.Ho * g.Wo * (cin / g.Group * k + cout / g.Group);
        return products >= TapsGemmMinProductRatio * inputs ? ConvWeightGradMethod.TapsGemm : ConvWeightGradMethod.Im2ColConvMatMul;
    }

    /// <summary>
    /// CPU Auto takes TapsGemm when the batched forms' per-sample products are at least this many times their inputs;
    /// measured with `convgrad cpu` on 1x1 convolutions: see docs/autodiff.md, "Measured costs of the pieces" (pointwise).
    /// </summary>
    internal const double TapsGemmMinProductRatio = 10;

    /// <summary>
    /// CPU Auto picks the dense depthwise forms up to these sizes (Ho Wo H W: output times input positions): the input
    /// gradient wins up to 8x8 maps, the weight gradient up to 16x16 (measured per piece with `convgrad cpu`: see
    /// docs/autodiff.md, "Measured costs of the pieces", dense depthwise forms). Non-depthwise groups fall back by themselves.
    /// </summary>
    internal const long DenseInputGradMaxPairs = 4096, DenseWeightGradMaxPairs = 65536;

    private static bool IsCuda(GradientOptions o) => o.IsCuda;

    /// <summary>W [Cout, Cin/g, kh, kw] -> spatially flipped, per-group transposed [Cin, Cout/g, kh, kw].</summary>
    private static string FlipKernel(RuleContext c, string w, long[] wd, long group)
    {
        long cout = wd[0], cing = wd[1], kh = wd[2], kw = wd[3];
        var flipped = kh == 1 && kw == 1 ? w // a 1x1 kernel is its own flip
            : c.E.Op("Slice", [w, c.E.I64(-1, -1), c.E.I64(long.MinValue, long.MinValue), c.E.I64(2, 3), c.E.I64(-1, -1)]);
        if (group == 1) return c.E.Transpose(flipped, 1, 0, 2, 3);
        var r5 = c.E.Op("Reshape", [flipped, c.E.I64(group, cout / group, cing, kh, kw)]);
        var t5 = c.E.Transpose(r5, 0, 2, 1, 3, 4);
        return c.E.Op("Reshape", [t5, c.E.I64(cing * group, cout / group, kh, kw)]);
    }

    /// <summary>
    /// dX as a stride-1 Conv of dY (zero-interleaved when a stride is above 1) with the flipped, transposed kernel
    /// <paramref name="wt"/> [Cin, Cout/g, kh, kw]; begin/end padding (or cropping) makes the output X's size.
    /// </summary>
    internal static string ConvInputGradFlipped(RuleContext c, string dy, string wt, ConvGeometry g)
    {
        var yd = c.Dims(c.Out(0));
        long cy = yd[1];
        long lh = g.Ho, lw = g.Wo;
        var src = dy;
        if (g.Sh > 1 || g.Sw > 1)
        {
            var r6 = c.E.Op("Reshape", [dy, c.E.I64(-1, cy, g.Ho, 1, g.Wo, 1)]);
            var p6 = c.E.Op("Pad", [r6, c.E.I64(0, 0, 0, 0, 0, 0, 0, 0, 0, g.Sh - 1, 0, g.Sw - 1)]);
            lh = g.Ho * g.Sh; lw = g.Wo * g.Sw;
            src = c.E.Op("Reshape", [p6, c.E.I64(-1, cy, lh, lw)]);
        }
        long bh = g.Dh * (g.Kh - 1) - g.PadTop, bw = g.Dw * (g.Kw - 1) - g.PadLeft;
        long eh = g.H - lh - bh + g.Dh * (g.Kh - 1), ew = g.W - lw - bw + g.Dw * (g.Kw - 1);
        if (bh < 0 || bw < 0 || eh < 0 || ew < 0)
        {
            long sh = Math.Max(-bh, 0), sw = Math.Max(-bw, 0);
            src = c.E.Op("Slice", [src, c.E.I64(sh, sw), c.E.I64(lh - Math.Max(-eh, 0), lw - Math.Max(-ew, 0)), c.E.I64(2, 3)]);
        }
        return c.E.Op("Conv", [src, wt],
            Attr.Ints("dilations", g.Dh, g.Dw), Attr.Ints("strides", 1, 1), Attr.Int("group", g.Group),
            Attr.Ints("pads", Math.Max(bh, 0), Math.Max(bw, 0), Math.Max(eh, 0), Math.Max(ew, 0)));
    }

    /// <summary>dX as ConvTranspose(dY, W) with output_padding so that the output has X's size.</summary>
    internal static string ConvInputGradTranspose(RuleContext c, string dy, string w, ConvGeometry g)
    {
        long rh = (g.H + g.PadTop + g.PadBottom - g.Dh * (g.Kh - 1) - 1) - g.Sh * (g.Ho - 1);
        long rw = (g.W + g.PadLeft + g.PadRight - g.Dw * (g.Kw - 1) - 1) - g.Sw * (g.Wo - 1);
        if (rh < 0 || rw < 0 || rh >= Math.Max(g.Sh, g.Dh) || rw >= Math.Max(g.Sw, g.Dw))
            throw c.Unsupported($"ConvTranspose input gradient needs output_padding ({rh}, {rw}) outside [0, stride); use ConvInputGradMethod.FlippedConv");
        return c.E.Op("ConvTranspose", [dy, w],
            Attr.Ints("strides", g.Sh, g.Sw), Attr.Ints("dilations", g.Dh, g.Dw), Attr.Int("group", g.Group),
            Attr.Ints("pads", g.PadTop, g.PadLeft, g.PadBottom, g.PadRight), Attr.Ints("output_padding", rh, rw));
    }

    private static bool AnyPad(ConvGeometry g) => g.PadTop != 0 || g.PadLeft != 0 || g.PadBottom != 0 || g.PadRight != 0;

    private static string PadSpatial(RuleContext c, string x, ConvGeometry g) =>
        AnyPad(g) ? c.E.Op("Pad", [x, c.E.I64(0, 0, g.PadTop, g.PadLeft, 0, 0, g.PadBottom, g.PadRight)]) : x;

    /// <summary>The strided tap (a, b) of a padded [*, *, Hp, Wp] tensor: [*, *, Ho, Wo].</summary>
    private static string Tap(RuleContext c, string xpad, ConvGeometry g, long a, long b) =>
        c.E.Op("Slice", [xpad, c.E.I64(a * g.Dh, b * g.Dw), c.E.I64(a * g.Dh + g.Sh * (g.Ho - 1) + 1, b * g.Dw + g.Sw * (g.Wo - 1) + 1), c.E.I64(2, 3), c.E.I64(g.Sh, g.Sw)]);

    /// <summary>Taps of padded X stacked to [N, g, Cin/g k k, Ho Wo], contracted with dY per sample, summed over N.</summary>
    private static string WeightGradSlicedPatches(RuleContext c, string x, string dy, long[] xd, long[] wd, ConvGeometry g)
    {
        long cin = xd[1], cout = wd[0], k = g.Kh * g.Kw, hw = g.Ho * g.Wo, G = g.Group;
        var xpad = PadSpatial(c, x, g);
        var taps = new List<string>();
        for (long a = 0; a < g.Kh; a++)
            for (long b = 0; b < g.Kw; b++)
                taps.Add(c.E.Op("Reshape", [Tap(c, xpad, g, a, b), c.E.I64(-1, cin, 1, hw)]));
        var stacked = taps.Count == 1 ? taps[0] : c.E.Op("Concat", taps, Attr.Int("axis", 2));
        var p = c.E.Op("Reshape", [stacked, c.E.I64(-1, G, cin / G * k, hw)]);
        var dyt = c.E.Transpose(c.E.Op("Reshape", [dy, c.E.I64(-1, G, cout / G, hw)]), 0, 1, 3, 2);
        var prod = c.E.Op("MatMul", [p, dyt]);                       // [N, g, Cin/g k, Cout/g]
        var sum = c.E.ReduceSum(prod, [0], keepDims: false);          // [g, Cin/g k, Cout/g]
        var t = c.E.Transpose(sum, 0, 2, 1);                          // [g, Cout/g, Cin/g k]
        return c.E.Op("Reshape", [t, c.E.I64(wd)]);
    }

    /// <summary>
    /// All taps of X as [N, Cin k k, Ho, Wo] by one depthwise Conv with a one-hot kernel; a 1x1 kernel without padding
    /// needs no copy (X itself, or a strided Slice of it).
    /// </summary>
    private static string Im2Col(RuleContext c, string x, long[] xd, ConvGeometry g)
    {
        if (g.Kh == 1 && g.Kw == 1 && !AnyPad(g))
            return g.Sh == 1 && g.Sw == 1 ? x : Tap(c, x, g, 0, 0);
        long cin = xd[1], k = g.Kh * g.Kw;
        var eye = new double[cin * k * k];
        for (long i = 0; i < cin; i++)
            for (long t = 0; t < k; t++)
                eye[(i * k + t) * k + t] = 1;
        var kernel = c.E.Const("ad_im2col_eye", [cin * k, 1, g.Kh, g.Kw], eye, c.T);
        return c.E.Op("Conv", [x, kernel], Attr.Ints("strides", g.Sh, g.Sw), Attr.Ints("dilations", g.Dh, g.Dw),
            Attr.Ints("pads", g.PadTop, g.PadLeft, g.PadBottom, g.PadRight), Attr.Int("group", cin));
    }

    /// <summary>All taps of X (<see cref="Im2Col"/>), contracted with dY per sample, summed over N.</summary>
    private static string WeightGradIm2ColConv(RuleContext c, string x, string dy, long[] xd, long[] wd, ConvGeometry g)
    {
        long cin = xd[1], cout = wd[0], k = g.Kh * g.Kw, hw = g.Ho * g.Wo, G = g.Group;
        var p = c.E.Op("Reshape", [Im2Col(c, x, xd, g), c.E.I64(-1, G, cin / G * k, hw)]);
        var dyt = c.E.Transpose(c.E.Op("Reshape", [dy, c.E.I64(-1, G, cout / G, hw)]), 0, 1, 3, 2);
        var prod = c.E.Op("MatMul", [p, dyt]);                       // [N, g, Cin/g k, Cout/g]
        var sum = c.E.ReduceSum(prod, [0], keepDims: false);          // [g, Cin/g k, Cout/g]
        var t2 = c.E.Transpose(sum, 0, 2, 1);                         // [g, Cout/g, Cin/g k]
        return c.E.Op("Reshape", [t2, c.E.I64(wd)]);
    }

    /// <summary>
    /// Depthwise (one input and one output channel per group): per channel the products of every output position's dY with
    /// every input position's X, summed over the batch by one batched MatMul ([C, Ho Wo, N] x [C, N, H W]), then a constant
    /// 0/1 matrix [Ho Wo H W, k k] adds up the pairs each tap connects. Work Ho Wo H W per channel and sample instead of
    /// Ho Wo k k: for the small spatial sizes of a network's last stages only.
    /// </summary>
    private static string WeightGradDepthwiseDense(RuleContext c, string x, string dy, long[] xd, long[] wd, ConvGeometry g)
    {
        long ch = xd[1], hw = g.H * g.W, howo = g.Ho * g.Wo;
        var xt = c.E.Transpose(c.E.Op("Reshape", [x, c.E.I64(-1, ch, hw)]), 1, 0, 2);      // [C, N, H W]
        var dyt = c.E.Transpose(c.E.Op("Reshape", [dy, c.E.I64(-1, ch, howo)]), 1, 2, 0);  // [C, Ho Wo, N]
        var pairs = c.E.Op("MatMul", [dyt, xt]);                                              // [C, Ho Wo, H W]
        var dw = c.E.Op("MatMul", [c.E.Op("Reshape", [pairs, c.E.I64(ch, howo * hw)]), TapPairs(c, g, tapsFirst: false)]);
        return c.E.Op("Reshape", [dw, c.E.I64(wd)]);
    }

    /// <summary>Depthwise dX: per channel dY [N, Ho Wo] times the dense [Ho Wo, H W] matrix of its kernel.</summary>
    private static string ConvInputGradDepthwiseDense(RuleContext c, string dy, string w, long[] xd, ConvGeometry g)
    {
        long ch = xd[1], hw = g.H * g.W, howo = g.Ho * g.Wo;
        var dense = DenseDepthwiseKernel(c.E, c.T, w, ch, g, inputMajor: false);
        var dyt = c.E.Transpose(c.E.Op("Reshape", [dy, c.E.I64(-1, ch, howo)]), 1, 0, 2);  // [C, N, Ho Wo]
        var dxt = c.E.Op("MatMul", [dyt, dense]);                                           // [C, N, H W]
        return c.E.Op("Reshape", [c.E.Transpose(dxt, 1, 0, 2), c.E.I64(-1, ch, g.H, g.W)]);
    }

    /// <summary>
    /// Each channel's depthwise convolution as a dense matrix: the kernel W [C, 1, kh, kw] times the constant
    /// <see cref="TapPairs(GradEmitter, ElementType, ConvGeometry, bool, bool)"/>, [C, Ho Wo, H W], or [C, H W, Ho Wo] with
    /// <paramref name="inputMajor"/> (the forward's form, X [C, N, H W] times it). Shapes are registered (the forward
    /// lowering's values lie on the reverse sweep's path).
    /// </summary>
    internal static string DenseDepthwiseKernel(GradEmitter e, ElementType t, string w, long ch, ConvGeometry g, bool inputMajor)
    {
        long hw = g.H * g.W, howo = g.Ho * g.Wo, k = g.Kh * g.Kw;
        string Reg(string v, params long[] dims) { e.Shapes.Set(v, dims, t); return v; }
        var w2 = Reg(e.Op("Reshape", [w, e.I64(ch, k)]), ch, k);
        var taps = Reg(TapPairs(e, t, g, tapsFirst: true, inputMajor), k, hw * howo);
        var flat = Reg(e.Op("MatMul", [w2, taps]), ch, hw * howo);
        return inputMajor ? Reg(e.Op("Reshape", [flat, e.I64(ch, hw, howo)]), ch, hw, howo)
            : Reg(e.Op("Reshape", [flat, e.I64(ch, howo, hw)]), ch, howo, hw);
    }

    /// <summary>One input and one output channel per group.</summary>
    private static bool IsDepthwise(long[] xd, long[] wd, ConvGeometry g) => xd[1] == g.Group && wd[0] == g.Group;

    /// <summary>See <see cref="TapPairs(GradEmitter, ElementType, ConvGeometry, bool, bool)"/>.</summary>
    private static string TapPairs(RuleContext c, ConvGeometry g, bool tapsFirst) => TapPairs(c.E, c.T, g, tapsFirst);

    /// <summary>
    /// The constant 0/1 tensor that says which kernel tap connects output position p to input position q:
    /// [Ho Wo H W, k k] (or [k k, Ho Wo H W] with <paramref name="tapsFirst"/>), pairs ordered (p, q) or, with
    /// <paramref name="inputMajor"/>, (q, p); pairs that fall into the padding are absent.
    /// </summary>
    internal static string TapPairs(GradEmitter e, ElementType t, ConvGeometry g, bool tapsFirst, bool inputMajor = false)
    {
        // One constant per geometry and layout: convolutions of the same shape share it.
        var key = $"tap-pairs|{g}|{tapsFirst}|{inputMajor}|{t}";
        return e.B.Derived(key, () => MakeTapPairs(e, t, g, tapsFirst, inputMajor));
    }

    private static string MakeTapPairs(GradEmitter e, ElementType t, ConvGeometry g, bool tapsFirst, bool inputMajor)
    {
        long hw = g.H * g.W, pairs = g.Ho * g.Wo * hw, k = g.Kh * g.Kw;
        var sel = new double[pairs * k];
        for (long oy = 0; oy < g.Ho; oy++)
            for (long ox = 0; ox < g.Wo; ox++)
                for (long a = 0; a < g.Kh; a++)
                    for (long b = 0; b < g.Kw; b++)
                    {
                        long iy = oy * g.Sh - g.PadTop + a * g.Dh, ix = ox * g.Sw - g.PadLeft + b * g.Dw;
                        if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                        long p = oy * g.Wo + ox, q = iy * g.W + ix, tap = a * g.Kw + b;
                        long pair = inputMajor ? q * g.Ho * g.Wo + p : p * hw + q;
                        sel[tapsFirst ? tap * pairs + pair : pair * k + tap] = 1;
                    }
        return tapsFirst ? e.Const("ad_dw_taps", [k, pairs], sel, t) : e.Const("ad_dw_pairs", [pairs, k], sel, t);
    }

    /// <summary>X and dY transposed to channel-major once; taps [Cin, k, N Ho Wo] contracted with dY [Cout, N Ho Wo] in one GEMM (batched per group).</summary>
    private static string WeightGradTapsGemm(RuleContext c, string x, string dy, long[] xd, long[] wd, ConvGeometry g)
    {
        long cin = xd[1], cout = wd[0], k = g.Kh * g.Kw, G = g.Group;
        var xt = PadSpatial(c, c.E.Transpose(x, 1, 0, 2, 3), g);     // [Cin, N, Hp, Wp]
        var taps = new List<string>();
        for (long a = 0; a < g.Kh; a++)
            for (long b = 0; b < g.Kw; b++)
                taps.Add(c.E.Op("Reshape", [Tap(c, xt, g, a, b), c.E.I64(cin, 1, -1)]));
        var stacked = taps.Count == 1 ? taps[0] : c.E.Op("Concat", taps, Attr.Int("axis", 1)); // [Cin, k, N Ho Wo]
        var dyt = c.E.Transpose(dy, 1, 0, 2, 3);                      // [Cout, N, Ho, Wo]
        if (G == 1)
        {
            var p = c.E.Op("Reshape", [stacked, c.E.I64(cin * k, -1)]);
            var d2 = c.E.Op("Reshape", [dyt, c.E.I64(cout, -1)]);
            var gw = c.E.Op("Gemm", [d2, p], Attr.Int("transB", 1));  // [Cout, Cin k]
            return c.E.Op("Reshape", [gw, c.E.I64(wd)]);
        }
        var pg = c.E.Op("Reshape", [stacked, c.E.I64(G, cin / G * k, -1)]);
        var dg = c.E.Op("Reshape", [dyt, c.E.I64(G, cout / G, -1)]);
        var prod = c.E.Op("MatMul", [dg, c.E.Transpose(pg, 0, 2, 1)]); // [g, Cout/g, Cin/g k]
        return c.E.Op("Reshape", [prod, c.E.I64(wd)]);
    }

    /// <summary>X and dY transposed to channel-major once; one GEMM per tap, [Cout, Cin] results concatenated along the tap axis.</summary>
    private static string WeightGradPerTapGemm(RuleContext c, string x, string dy, long[] xd, long[] wd, ConvGeometry g)
    {
        long cin = xd[1], cout = wd[0];
        var xt = PadSpatial(c, c.E.Transpose(x, 1, 0, 2, 3), g);     // [Cin, N, Hp, Wp]
        var d2 = c.E.Op("Reshape", [c.E.Transpose(dy, 1, 0, 2, 3), c.E.I64(cout, -1)]);
        var parts = new List<string>();
        for (long a = 0; a < g.Kh; a++)
            for (long b = 0; b < g.Kw; b++)
            {
                var tap = c.E.Op("Reshape", [Tap(c, xt, g, a, b), c.E.I64(cin, -1)]);
                var gw = c.E.Op("Gemm", [d2, tap], Attr.Int("transB", 1)); // [Cout, Cin]
                parts.Add(c.E.Op("Reshape", [gw, c.E.I64(cout, cin, 1)]));
            }
        var all = parts.Count == 1 ? parts[0] : c.E.Op("Concat", parts, Attr.Int("axis", 2));
        return c.E.Op("Reshape", [all, c.E.I64(wd)]);
    }

    /// <summary>dW as a Conv over the N/C-transposed X with the N/C-transposed dY as kernel (strides and dilations swapped).</summary>
    private static string WeightGradConvOverTransposed(RuleContext c, string x, string dy, long[] wd, ConvGeometry g)
    {
        var xt = c.E.Transpose(x, 1, 0, 2, 3);
        var dyt = c.E.Transpose(dy, 1, 0, 2, 3);
        var r = c.E.Op("Conv", [xt, dyt], Attr.Ints("strides", g.Dh, g.Dw), Attr.Ints("dilations", g.Sh, g.Sw),
            Attr.Ints("pads", g.PadTop, g.PadLeft, g.PadBottom, g.PadRight));
        long fullH = (g.H + g.PadTop + g.PadBottom - g.Sh * (g.Ho - 1) - 1) / g.Dh + 1;
        long fullW = (g.W + g.PadLeft + g.PadRight - g.Sw * (g.Wo - 1) - 1) / g.Dw + 1;
        if (fullH != g.Kh || fullW != g.Kw)
            r = c.E.Op("Slice", [r, c.E.I64(0, 0), c.E.I64(g.Kh, g.Kw), c.E.I64(2, 3)]);
        return c.E.Transpose(r, 1, 0, 2, 3);
    }
}
