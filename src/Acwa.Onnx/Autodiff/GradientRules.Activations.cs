using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Autodiff;

/// <summary>
/// Rules for the activations and elementwise ops that models exported for fine-tuning bring along (MobileNetV3's
/// HardSigmoid/HardSwish, GELU's Erf, PReLU, ELU, Softplus, Pow, Max/Min, Where, ...). Conventions at kinks and ties
/// follow PyTorch's autograd (named per rule), so that whole-model gradients match it.
/// </summary>
internal static partial class GradientRules
{
    /// <summary>Pow(A, B): dA = dY B A^(B-1) (dY 2A when B is the constant 2), dB = dY Y ln A; B may have another numeric type.</summary>
    private static void Pow(RuleContext c)
    {
        var a = c.In(0); var b = c.In(1);
        var y = c.Dims(c.Out(0));
        var bt = c.S.TypeOf(b);
        var bAsT = bt == c.T ? b : c.E.Op("Cast", [b], Attr.Int("to", (long)c.T));
        if (c.Needs(0))
        {
            var g = c.E.TryConstScalar(b) == 2.0
                ? c.E.Mul(c.Dy0, c.E.Scale(a, 2.0, c.T))
                : c.E.Mul(c.Dy0, c.E.Mul(bAsT, c.E.Op("Pow", [a, c.E.Op("Sub", [bAsT, c.E.Scalar(1, c.T)])])));
            c.Add(0, c.E.Unbroadcast(g, y, c.Dims(a), a));
        }
        if (c.Needs(1))
        {
            var g = c.E.Unbroadcast(c.E.Mul(c.E.Mul(c.Dy0, c.Out(0)), c.E.Op("Log", [a])), y, c.Dims(b), b);
            c.Add(1, bt == c.T ? g : c.E.Op("Cast", [g], Attr.Int("to", (long)bt)));
        }
    }

    /// <summary>Erf: dX = dY 2/sqrt(pi) exp(-X^2).</summary>
    private static void Erf(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var x = c.In(0);
        var e = c.E.Op("Exp", [c.E.Op("Neg", [c.E.Mul(x, x)])]);
        c.Add(0, c.E.Mul(c.Dy0, c.E.Scale(e, 2.0 / Math.Sqrt(Math.PI), c.T)));
    }

    /// <summary>
    /// Gelu (opset 20; torch's F.gelu at opset 20+): approximate "none": dX = dY (Phi(x) + x phi(x)), Phi the normal CDF
    /// 0.5 (1 + erf(x / sqrt 2)), phi its density; "tanh": y = 0.5 x (1 + t), t = tanh(u), u = sqrt(2/pi) (x + 0.044715 x^3),
    /// dX = dY (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2)).
    /// </summary>
    private static void Gelu(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var x = c.In(0);
        var e = c.E;
        var x2 = e.Mul(x, x);
        string d;
        switch (c.Node.GetString("approximate", "none"))
        {
            case "none":
                var cdf = e.Scale(e.Op("Add", [e.Op("Erf", [e.Scale(x, 1 / Math.Sqrt(2), c.T)]), e.Scalar(1, c.T)]), 0.5, c.T);
                var pdf = e.Scale(e.Op("Exp", [e.Scale(x2, -0.5, c.T)]), 1 / Math.Sqrt(2 * Math.PI), c.T);
                d = e.Op("Add", [cdf, e.Mul(x, pdf)]);
                break;
            case "tanh":
                double k = Math.Sqrt(2 / Math.PI);
                var t = e.Op("Tanh", [e.Scale(e.Op("Add", [x, e.Scale(e.Mul(x2, x), 0.044715, c.T)]), k, c.T)]);
                var half = e.Scale(e.Op("Add", [t, e.Scalar(1, c.T)]), 0.5, c.T);
                var sech2 = e.Op("Sub", [e.Scalar(1, c.T), e.Mul(t, t)]);
                var du = e.Op("Add", [e.Scale(x2, 3 * 0.044715 * k, c.T), e.Scalar(k, c.T)]);
                d = e.Op("Add", [half, e.Scale(e.Mul(e.Mul(x, sech2), du), 0.5, c.T)]);
                break;
            default:
                throw c.Unsupported($"Gelu approximate '{c.Node.GetString("approximate", "none")}' (none, tanh)");
        }
        c.Add(0, e.Mul(c.Dy0, d));
    }

    /// <summary>Abs: dX = dY Sign(X) (0 at X = 0, as PyTorch).</summary>
    private static void Abs(RuleContext c)
    {
        if (c.Needs(0)) c.Add(0, c.E.Mul(c.Dy0, c.E.Op("Sign", [c.In(0)])));
    }

    /// <summary>Reciprocal: Y = 1/X, dX = -dY Y^2.</summary>
    private static void Reciprocal(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var y = c.Out(0);
        c.Add(0, c.E.Op("Neg", [c.E.Mul(c.Dy0, c.E.Mul(y, y))]));
    }

    /// <summary>Softplus: dX = dY Sigmoid(X).</summary>
    private static void Softplus(RuleContext c)
    {
        if (c.Needs(0)) c.Add(0, c.E.Mul(c.Dy0, c.E.Op("Sigmoid", [c.In(0)])));
    }

    /// <summary>Elu: dX = dY for X &gt; 0, else dY (Y + alpha).</summary>
    private static void Elu(RuleContext c)
    {
        if (!c.Needs(0)) return;
        double alpha = c.Node.GetFloat("alpha", 1f);
        var neg = c.E.Mul(c.Dy0, c.E.Op("Add", [c.Out(0), c.E.Scalar(alpha, c.T)]));
        c.Add(0, c.E.Op("Where", [c.E.Op("Greater", [c.In(0), c.E.Scalar(0, c.T)]), c.Dy0, neg]));
    }

    /// <summary>Selu: dX = dY gamma for X &gt; 0, else dY (Y + gamma alpha).</summary>
    private static void Selu(RuleContext c)
    {
        if (!c.Needs(0)) return;
        double alpha = c.Node.GetFloat("alpha", 1.67326319217681884765625f), gamma = c.Node.GetFloat("gamma", 1.05070102214813232421875f);
        var neg = c.E.Mul(c.Dy0, c.E.Op("Add", [c.Out(0), c.E.Scalar(gamma * alpha, c.T)]));
        c.Add(0, c.E.Op("Where", [c.E.Op("Greater", [c.In(0), c.E.Scalar(0, c.T)]), c.E.Scale(c.Dy0, gamma, c.T), neg]));
    }

    /// <summary>Celu: Y = max(0, X) + min(0, alpha (exp(X / alpha) - 1)); dX = dY for X &gt; 0, else dY exp(X / alpha).</summary>
    private static void Celu(RuleContext c)
    {
        if (!c.Needs(0)) return;
        double alpha = c.Node.GetFloat("alpha", 1f);
        var neg = c.E.Mul(c.Dy0, c.E.Op("Exp", [c.E.Scale(c.In(0), 1 / alpha, c.T)]));
        c.Add(0, c.E.Op("Where", [c.E.Op("Greater", [c.In(0), c.E.Scalar(0, c.T)]), c.Dy0, neg]));
    }

    /// <summary>Mish (opset 18): Y = X tanh(softplus(X)); dX = dY (t + X (1 - t^2) sigmoid(X)), t = tanh(softplus(X)).</summary>
    private static void Mish(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var x = c.In(0);
        var t = c.E.Op("Tanh", [c.E.Op("Softplus", [x])]);
        var sech2 = c.E.Op("Sub", [c.E.Scalar(1, c.T), c.E.Mul(t, t)]);
        var d = c.E.Op("Add", [t, c.E.Mul(c.E.Mul(x, sech2), c.E.Op("Sigmoid", [x]))]);
        c.Add(0, c.E.Mul(c.Dy0, d));
    }

    /// <summary>Softsign: Y = X / (1 + |X|); dX = dY / (1 + |X|)^2.</summary>
    private static void Softsign(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var den = c.E.Op("Add", [c.E.Op("Abs", [c.In(0)]), c.E.Scalar(1, c.T)]);
        c.Add(0, c.E.Op("Div", [c.Dy0, c.E.Mul(den, den)]));
    }

    /// <summary>Sin: dX = dY cos(X); Cos: dX = -dY sin(X).</summary>
    private static void SinCos(RuleContext c)
    {
        if (!c.Needs(0)) return;
        c.Add(0, c.Node.OpType == "Sin"
            ? c.E.Mul(c.Dy0, c.E.Op("Cos", [c.In(0)]))
            : c.E.Op("Neg", [c.E.Mul(c.Dy0, c.E.Op("Sin", [c.In(0)]))]));
    }

    /// <summary>HardSigmoid: Y = max(0, min(1, alpha X + beta)); dX = alpha dY where 0 &lt; alpha X + beta &lt; 1 (strict, as PyTorch), else 0.</summary>
    private static void HardSigmoid(RuleContext c)
    {
        if (!c.Needs(0)) return;
        double alpha = c.Node.GetFloat("alpha", 0.2f), beta = c.Node.GetFloat("beta", 0.5f);
        var z = c.E.Op("Add", [c.E.Scale(c.In(0), alpha, c.T), c.E.Scalar(beta, c.T)]);
        var inside = c.E.Op("And", [c.E.Op("Greater", [z, c.E.Scalar(0, c.T)]), c.E.Op("Less", [z, c.E.Scalar(1, c.T)])]);
        c.Add(0, c.E.Op("Where", [inside, c.E.Scale(c.Dy0, alpha, c.T), c.E.Scalar(0, c.T)]));
    }

    /// <summary>HardSwish: Y = X HardSigmoid(X; 1/6, 1/2); dX = 0 for X &lt; -3, dY (X/3 + 1/2) for -3 &lt;= X &lt;= 3, dY above (PyTorch's bounds).</summary>
    private static void HardSwish(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var x = c.In(0);
        var mid = c.E.Mul(c.Dy0, c.E.Op("Add", [c.E.Scale(x, 1.0 / 3.0, c.T), c.E.Scalar(0.5, c.T)]));
        var upper = c.E.Op("Where", [c.E.Op("LessOrEqual", [x, c.E.Scalar(3, c.T)]), mid, c.Dy0]);
        c.Add(0, c.E.Op("Where", [c.E.Op("Less", [x, c.E.Scalar(-3, c.T)]), c.E.Scalar(0, c.T), upper]));
    }

    /// <summary>PRelu(X, slope): dX = dY for X &gt; 0, else dY slope; dslope = sum of dY X over X &lt;= 0, reduced to slope's shape.</summary>
    private static void PRelu(RuleContext c)
    {
        var x = c.In(0); var slope = c.In(1);
        var positive = c.E.Op("Greater", [x, c.E.Scalar(0, c.T)]);
        if (c.Needs(0)) c.Add(0, c.E.Op("Where", [positive, c.Dy0, c.E.Mul(c.Dy0, slope)]));
        if (c.Needs(1))
        {
            var g = c.E.Op("Where", [positive, c.E.Scalar(0, c.T), c.E.Mul(c.Dy0, x)]);
            c.Add(1, c.E.Unbroadcast(g, c.Dims(c.Out(0)), c.Dims(slope), slope));
        }
    }

    /// <summary>
    /// Max / Min over any number of inputs with broadcasting: dY goes to the inputs equal to Y, split evenly among tied
    /// inputs (PyTorch's maximum/minimum give each of two tied inputs half).
    /// </summary>
    private static void MaxMin(RuleContext c)
    {
        int n = c.Node.Input.Count;
        var y = c.Out(0);
        var yd = c.Dims(y);
        if (n == 1) { if (c.Needs(0)) c.Add(0, c.Dy0); return; }
        var masks = Enumerable.Range(0, n).Select(i => c.E.Op("Cast", [c.E.Op("Equal", [c.In(i), y])], Attr.Int("to", (long)c.T))).ToArray();
        var share = c.E.Op("Div", [c.Dy0, c.E.Op("Sum", masks)]);
        for (int i = 0; i < n; i++)
            if (c.Needs(i)) c.Add(i, c.E.Unbroadcast(c.E.Mul(share, masks[i]), yd, c.Dims(c.In(i)), c.In(i)));
    }

    /// <summary>Where(C, A, B): dA = dY where C, dB = dY where not C, each reduced to its input's shape.</summary>
    private static void Where(RuleContext c)
    {
        var yd = c.Dims(c.Out(0));
        var zero = c.E.Scalar(0, c.T);
        if (c.Needs(1)) c.Add(1, c.E.Unbroadcast(c.E.Op("Where", [c.In(0), c.Dy0, zero]), yd, c.Dims(c.In(1)), c.In(1)));
        if (c.Needs(2)) c.Add(2, c.E.Unbroadcast(c.E.Op("Where", [c.In(0), zero, c.Dy0]), yd, c.Dims(c.In(2)), c.In(2)));
    }
}
