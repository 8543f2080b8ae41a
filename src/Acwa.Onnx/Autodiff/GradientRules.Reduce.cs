using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Autodiff;

internal static partial class GradientRules
{
    /// <summary>
    /// dY of a reduction with its reduced axes re-inserted (keepdims 0) and expanded to X's shape, and Y likewise
    /// expanded when <paramref name="withY"/>: the common part of the ReduceSumSquare / L1 / L2 / LogSumExp rules.
    /// </summary>
    private static (string Dy, string? Y) ExpandedReduction(RuleContext c, bool withY)
    {
        var x = c.In(0);
        var xd = c.Dims(x);
        var axes = ReductionAxes(c, xd.Length)
            ?? throw c.Unsupported("noop_with_empty_axes = 1 with no axes is not supported for this reduction");
        var keep = (long[])xd.Clone();
        foreach (var a in axes) keep[a] = 1;
        bool spread = !IsCuda(c.Options);
        string Full(string v) =>
            c.E.ExpandTo(c.Node.GetInt("keepdims", 1) == 0 ? c.E.ReshapeTo(v, keep, x) : v, keep, xd, x, spreadSmallTrailing: spread);
        return (Full(c.Dy0), withY ? Full(c.Out(0)) : null);
    }

    /// <summary>ReduceSumSquare: dX = 2 X dY.</summary>
    private static void ReduceSumSquare(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var (dy, _) = ExpandedReduction(c, withY: false);
        c.Add(0, c.E.Mul(c.E.Scale(c.In(0), 2.0, c.T), dy));
    }

    /// <summary>ReduceL1: dX = Sign(X) dY (0 at X = 0, as PyTorch's abs).</summary>
    private static void ReduceL1(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var (dy, _) = ExpandedReduction(c, withY: false);
        c.Add(0, c.E.Mul(c.E.Op("Sign", [c.In(0)]), dy));
    }

    /// <summary>
    /// ReduceL2 (PyTorch's norm, F.normalize): dX = X dY / Y, with Y floored at the smallest normal float so that an
    /// all-zero slice gets 0 (PyTorch's value there), not 0/0.
    /// </summary>
    private static void ReduceL2(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var (dy, y) = ExpandedReduction(c, withY: true);
        var safe = c.E.Op("Max", [y!, c.E.Scalar(1.1754943508222875e-38, c.T)]);
        c.Add(0, c.E.Op("Div", [c.E.Mul(c.In(0), dy), safe]));
    }

    /// <summary>ReduceLogSumExp: dX = exp(X - Y) dY (the softmax over the reduced axes).</summary>
    private static void ReduceLogSumExp(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var (dy, y) = ExpandedReduction(c, withY: true);
        c.Add(0, c.E.Mul(c.E.Op("Exp", [c.E.Op("Sub", [c.In(0), y!])]), dy));
    }

    /// <summary>
    /// Tile (x.repeat in PyTorch exports): dY viewed as [r0, d0, r1, d1, ...] summed over the repeat axes. Constant
    /// repeats; at most one dim of X may depend on the batch.
    /// </summary>
    private static void Tile(RuleContext c)
    {
        if (!c.Needs(0)) return;
        var x = c.In(0);
        var xd = c.Dims(x);
        var reps = c.E.TryConstInt64(c.In(1)) ?? throw c.Unsupported("Tile repeats must be constant");
        if (reps.All(r => r == 1)) { c.Add(0, c.Dy0); return; }
        if (xd.Count(d => d < 0) > 1) throw c.Unsupported("Tile of a tensor with more than one batch-dependent dim is not supported");
        var view = xd.SelectMany((d, i) => new[] { reps[i], d }).ToArray();
        var axes = Enumerable.Range(0, xd.Length).Select(i => 2L * i).ToArray();
        c.Add(0, c.E.ReduceSum(c.E.ReshapeTo(c.Dy0, view, x), axes, keepDims: false));
    }
}
