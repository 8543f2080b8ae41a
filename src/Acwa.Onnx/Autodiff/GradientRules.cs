using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Autodiff;

/// <summary>The per-op gradient rules (formulas and conventions in docs/autodiff.md, "Rules" and "Conventions and formulas").</summary>
internal static partial class GradientRules
{
    public static readonly IReadOnlyDictionary<string, Action<RuleContext>> All = new Dictionary<string, Action<RuleContext>>(StringComparer.Ordinal)
    {
        ["Add"] = Add, ["Sub"] = Sub, ["Mul"] = Mul, ["Div"] = Div, ["Sum"] = Sum,
        ["Neg"] = Neg, ["Relu"] = Relu, ["LeakyRelu"] = LeakyRelu, ["Sigmoid"] = Sigmoid, ["Tanh"] = Tanh,
        ["Clip"] = Clip, ["Exp"] = Exp, ["Log"] = Log, ["Sqrt"] = Sqrt, ["Identity"] = Identity, ["Cast"] = Cast,
        ["Softmax"] = Softmax, ["LogSoftmax"] = LogSoftmax,
        ["Reshape"] = ReshapeLike, ["Flatten"] = ReshapeLike, ["Squeeze"] = ReshapeLike, ["Unsqueeze"] = ReshapeLike,
        ["Transpose"] = Transpose, ["Concat"] = Concat, ["Slice"] = Slice, ["Pad"] = Pad,
        ["ReduceSum"] = ReduceSumMean, ["ReduceMean"] = ReduceSumMean,
        ["MatMul"] = MatMul, ["Gemm"] = Gemm,
        ["Conv"] = Conv, ["MaxPool"] = MaxPool, ["AveragePool"] = AveragePool, ["GlobalAveragePool"] = GlobalAveragePool,
        ["BatchNormalization"] = BatchNormalization, ["Dropout"] = Dropout,
        ["LayerNormalization"] = LayerNormalization,
        ["Pow"] = Pow, ["Erf"] = Erf, ["Gelu"] = Gelu, ["Abs"] = Abs, ["Reciprocal"] = Reciprocal, ["Softplus"] = Softplus, ["Elu"] = Elu,
        ["Selu"] = Selu, ["Celu"] = Celu, ["Mish"] = Mish, ["Softsign"] = Softsign, ["Sin"] = SinCos, ["Cos"] = SinCos,
        ["HardSigmoid"] = HardSigmoid, ["HardSwish"] = HardSwish, ["PRelu"] = PRelu,
        ["Max"] = MaxMin, ["Min"] = MaxMin, ["Where"] = Where,
        ["Expand"] = Expand, ["Split"] = Split, ["Gather"] = Gather, ["GatherElements"] = GatherElements,
        ["ReduceMax"] = ReduceMaxMin, ["ReduceMin"] = ReduceMaxMin, ["GlobalMaxPool"] = ReduceMaxMin,
        ["ReduceSumSquare"] = ReduceSumSquare, ["ReduceL1"] = ReduceL1, ["ReduceL2"] = ReduceL2, ["ReduceLogSumExp"] = ReduceLogSumExp,
        ["Tile"] = Tile, ["LSTM"] = Lstm, ["GRU"] = Gru, ["RNN"] = Rnn,
    };

    // ---- elementwise binary ops with broadcasting ----

    private static void Add(RuleContext c)
    {
        var y = c.Dims(c.Out(0));
        if (c.Needs(0)) c.Add(0, c.E.Unbroadcast(c.Dy0, y, c.Dims(c.In(0)), c.In(0)));
        if (c.Needs(1)) c.Add(1, c.E.Unbroadcast(c.Dy0, y, c.Dims(c.In(1)), c.In(1)));
    }

    private static void Sum(RuleContext c)
    {
        var y = c.Dims(c.Out(0));
        for (int i = 0; i < c.Node.Input.Count; i++)
            if (c.Needs(i)) c.Add(i, c.E.Unbroadcast(c.Dy0, y, c.Dims(c.In(i)), c.In(i)));
    }

    private static void Sub(RuleContext c)
    {
        var y = c.Dims(c.Out(0));
        if (c.Needs(0)) c.Add(0, c.E.Unbroadcast(c.Dy0, y, c.Dims(c.In(0)), c.In(0)));
        if (c.Needs(1)) c.Add(1, c.E.Unbroadcast(c.E.Op("Neg", [c.Dy0]), y, c.Dims(c.In(1)), c.In(1)));
    }

    private static void Mul(RuleContext c)
    {
        var y = c.Dims(c.Out(0));
        if (c.Needs(0)) c.Add(0, c.E.Unbroadcast(c.E.Mul(c.Dy0, c.In(1)), y, c.Dims(c.In(0)), c.In(0)));
        if (c.Needs(1)) c.Add(1, c.E.Unbroadcast(c.E.Mul(c.Dy0, c.In(0)), y, c.Dims(c.In(1)), c.In(1)));
    }

    private static void Div(RuleContext c)
    {
        var y = c.Dims(c.Out(0));
        if (c.Needs(0)) c.Add(0, c.E.Unbroadcast(c.E.Op("Div", [c.Dy0, c.In(1)]), y, c.Dims(c.In(0)), c.In(0)));
        if (c.Needs(1))
        {
            // d(A/B)/dB = -A/B^2 = -Y/B
            var g = c.E.Op("Neg", [c.E.Mul(c.Dy0, c.E.Op("Div", [c.Out(0), c.In(1)]))]);
            c.Add(1, c.E.Unbroadcast(g, y, c.Dims(c.In(1)), c.In(1)));
        }
    }

    // ---- elementwise unary ops ----

    private static void Neg(RuleContext c) { if (c.Needs(0)) c.Add(0, c.E.Op("Neg", [c.Dy0])); }

    private static void Identity(RuleContext c) { if (c.Needs(0)) c.Add(0, c.Dy0); }

    /// <summary>
    /// Relu: dY where Y = Relu(X) &gt; 0 (the same set as X &gt; 0), else 0. Reading Y rather than X lets ORT fuse the
    /// forward Conv with its Relu. CPU: dY Cast(Y &gt; 0) (a one-byte mask, the cheapest form measured: see docs/autodiff.md,
    /// "Rules", Relu); CUDA: Where(Y &gt; 0, dY, 0).
    /// A gradient that a MaxPool rule already masked for this Relu (<see cref="GradEmitter.ReluMaskedGradients"/>) passes through.
    /// </summary>
    private static void Relu(RuleContext c)
    {
        if (!c.Needs(0)) return;
        if (c.E.ReluMaskedGradients.TryGetValue(c.Dy0, out var masked) && masked == c.Out(0)) { c.Add(0, c.Dy0); return; }
        c.Add(0, ReluMask(c, c.Dy0, c.Out(0)));
    }

    /// <summary><paramref name="dy"/> where <paramref name="y"/> &gt; 0, else 0, for y &gt;= 0 (a Relu's output or a max of such).</summary>
    internal static string ReluMask(RuleContext c, string dy, string y) =>
        Masked(c, dy, c.E.Op("Greater", [y, c.E.Scalar(0, c.T)]));

    /// <summary>
    /// <paramref name="dy"/> where the bool <paramref name="mask"/> holds, else 0. CPU: dY Cast(mask) (ORT's CPU Where is
    /// slow, see <see cref="Relu"/>); CUDA: Where(mask, dY, 0).
    /// </summary>
    private static string Masked(RuleContext c, string dy, string mask) => IsCuda(c.Options)
        ? c.E.Op("Where", [mask, dy, c.E.Scalar(0, c.T)])
        : c.E.Mul(dy, c.E.Op("Cast", [mask], Attr.Int("to", (long)c.T)));

    private static void LeakyRelu(RuleContext c)
    {
        if (!c.Needs(0)) return;
        double alpha = c.Node.GetFloat("alpha", 0.01f);
        var zero = c.E.Scalar(0, c.T);
        c.Add(0, c.E.Op("Where", [c.E.Op("Greater", [c.In(0), zero]), c.Dy0, c.E.Scale(c.Dy0, alpha, c.T)]));
    }

    /// <summary>
    /// Clip (min/max inputs, or attributes before opset 11): dY where min &lt;= X &lt;= max, else 0 (PyTorch clamp's
    /// convention). That set is where X == Clip(X), so one Equal of input and output makes the mask (cheaper than two
    /// compares, And and Where: see docs/autodiff.md, "Rules", Clip), applied by
    /// <see cref="Masked"/>. Degenerate bounds min &gt; max (Y = max everywhere) would pass dY where X == max exactly.
    /// Bounds that are trainable values get dY summed over the elements they clip: X &lt; min for min, X &gt; max for max
    /// (PyTorch's clamp with tensor bounds).
    /// </summary>
    private static void Clip(RuleContext c)
    {
        var yd = c.Dims(c.Out(0));
        if (c.Needs(1)) c.Add(1, c.E.Unbroadcast(Masked(c, c.Dy0, c.E.Op("Less", [c.In(0), c.In(1)])), yd, c.Dims(c.In(1)), c.In(1)));
        if (c.Needs(2)) c.Add(2, c.E.Unbroadcast(Masked(c, c.Dy0, c.E.Op("Greater", [c.In(0), c.In(2)])), yd, c.Dims(c.In(2)), c.In(2)));
        if (!c.Needs(0)) return;
        bool bounded = c.In(1).Length > 0 || c.In(2).Length > 0 || c.Node.FindAttribute("min") is not null || c.Node.FindAttribute("max") is not null;
        if (!bounded) { c.Add(0, c.Dy0); return; }
        c.Add(0, Masked(c, c.Dy0, c.E.Op("Equal", [c.In(0), c.Out(0)])));
    }

    private static void Sigmoid(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var y = c.Out(0);
        var oneMinus = c.E.Op("Sub", [c.E.Scalar(1, c.T), y]);
        c.Add(0, c.E.Mul(c.E.Mul(c.Dy0, y), oneMinus));
    }

    private static void Tanh(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var y = c.Out(0);
        var oneMinus = c.E.Op("Sub", [c.E.Scalar(1, c.T), c.E.Mul(y, y)]);
        c.Add(0, c.E.Mul(c.Dy0, oneMinus));
    }

    private static void Exp(RuleContext c) { if (c.Needs(0)) c.Add(0, c.E.Mul(c.Dy0, c.Out(0))); }

    private static void Log(RuleContext c) { if (c.Needs(0)) c.Add(0, c.E.Op("Div", [c.Dy0, c.In(0)])); }

    private static void Sqrt(RuleContext c)
    {
        if (c.Needs(0)) c.Add(0, c.E.Op("Div", [c.E.Scale(c.Dy0, 0.5, c.T), c.Out(0)]));
    }

    private static void Cast(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var to = c.S.TypeOf(c.In(0));
        c.Add(0, to == c.T ? c.Dy0 : c.E.Op("Cast", [c.Dy0], Attr.Int("to", (long)to)));
    }

    private static long SoftmaxAxis(RuleContext c)
    {
        long axis = c.Node.GetInt("axis", -1);
        return axis < 0 ? axis + c.Dims(c.In(0)).Length : axis;
    }

    private static void Softmax(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var y = c.Out(0);
        var s = c.E.ReduceSum(c.E.Mul(c.Dy0, y), [SoftmaxAxis(c)], keepDims: true);
        c.Add(0, c.E.Mul(y, c.E.Op("Sub", [c.Dy0, s])));
    }

    private static void LogSoftmax(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var s = c.E.ReduceSum(c.Dy0, [SoftmaxAxis(c)], keepDims: true);
        c.Add(0, c.E.Op("Sub", [c.Dy0, c.E.Mul(c.E.Op("Exp", [c.Out(0)]), s)]));
    }

    // ---- matrix products ----

    private static void MatMul(RuleContext c)
    {
        var a = c.In(0); var b = c.In(1);
        var ad = c.Dims(a); var bd = c.Dims(b);
        var dy = c.Dy0;
        var yd = c.Dims(c.Out(0));
        // Promote 1-D operands to matrices, and dY with them.
        string a2 = a, b2 = b;
        long[] a2d = ad, b2d = bd;
        if (ad.Length == 1) { a2 = c.E.Op("Unsqueeze", [a, c.E.I64(0)]); a2d = [1, ad[0]]; }
        if (bd.Length == 1) { b2 = c.E.Op("Unsqueeze", [b, c.E.I64(1)]); b2d = [bd[0], 1]; }
        var batch = BroadcastDims(a2d[..^2], b2d[..^2]);
        long m = a2d[^2], n = b2d[^1];
        long[] dy2d = [.. batch, m, n];
        if (ad.Length == 1 || bd.Length == 1) dy = c.E.ReshapeTo(dy, dy2d, c.Out(0));
        _ = yd;
        if (c.Needs(0))
        {
            var g = c.E.Op("MatMul", [dy, SwapLast(c, b2, b2d.Length)]);
            long[] gd = [.. batch, m, a2d[^1]];
            c.Add(0, ReduceTo(c, g, gd, ad, a));
        }
        if (c.Needs(1))
        {
            if (bd.Length == 2 && ad.Length >= 3)
            {
                // A shared weight matrix (a Linear layer over [N, L, K] activations): one GEMM over all rows,
                // A [N L, K]^T dY [N L, n], instead of per-sample products [N, K, n] summed over N afterwards.
                var rows = c.E.Op("Reshape", [a, c.E.I64(-1, bd[0])]);
                var dyRows = c.E.Op("Reshape", [dy, c.E.I64(-1, n)]);
                c.Add(1, c.E.Op("Gemm", [rows, dyRows], Attr.Int("transA", 1)));
                return;
            }
            var g = c.E.Op("MatMul", [SwapLast(c, a2, a2d.Length), dy]);
            long[] gd = [.. batch, b2d[^2], n];
            c.Add(1, ReduceTo(c, g, gd, bd, b));
        }
    }

    private static string ReduceTo(RuleContext c, string g, long[] gd, long[] target, string targetRef)
    {
        if (target.Length >= 2) return c.E.Unbroadcast(g, gd, target, targetRef);
        // 1-D operand: sum the batch axes, then drop the promoted axis.
        var reduced = gd.Length > 2 ? c.E.ReduceSum(g, Enumerable.Range(0, gd.Length - 2).Select(i => (long)i).ToArray(), keepDims: false) : g;
        return c.E.ReshapeTo(reduced, target, targetRef);
    }

    private static string SwapLast(RuleContext c, string value, int rank)
    {
        var perm = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        (perm[rank - 1], perm[rank - 2]) = (perm[rank - 2], perm[rank - 1]);
        return c.E.Transpose(value, perm);
    }

    internal static long[] BroadcastDims(long[] a, long[] b)
    {
        int r = Math.Max(a.Length, b.Length);
        var o = new long[r];
        for (int i = 0; i < r; i++)
        {
            long x = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            long y = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            o[i] = x == 1 ? y : y == 1 ? x : x < 0 || y < 0 ? -1 : x;
        }
        return o;
    }

    private static void Gemm(RuleContext c)
    {
        double alpha = c.Node.GetFloat("alpha", 1f), beta = c.Node.GetFloat("beta", 1f);
        long transA = c.Node.GetInt("transA", 0), transB = c.Node.GetInt("transB", 0);
        var a = c.In(0); var b = c.In(1); var dy = c.Dy0;
        var alphaAttr = Attr.Float("alpha", (float)alpha);
        if (c.Needs(0))
        {
            var g = transA == 0
                ? c.E.Op("Gemm", [dy, b], alphaAttr, Attr.Int("transA", 0), Attr.Int("transB", transB == 0 ? 1 : 0))
                : c.E.Op("Gemm", [b, dy], alphaAttr, Attr.Int("transA", transB), Attr.Int("transB", 1));
            c.Add(0, g);
        }
        if (c.Needs(1))
        {
            var g = transB == 0
                ? c.E.Op("Gemm", [a, dy], alphaAttr, Attr.Int("transA", transA == 0 ? 1 : 0), Attr.Int("transB", 0))
                : c.E.Op("Gemm", [dy, a], alphaAttr, Attr.Int("transA", 1), Attr.Int("transB", transA));
            c.Add(1, g);
        }
        if (c.Needs(2))
            c.Add(2, c.E.Unbroadcast(c.E.Scale(dy, beta, c.T), c.Dims(c.Out(0)), c.Dims(c.In(2)), c.In(2)));
    }
}
