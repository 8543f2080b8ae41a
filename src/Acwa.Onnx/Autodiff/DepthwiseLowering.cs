using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Autodiff;

/// <summary>
/// Rewrites depthwise convolutions on small feature maps (one input and one output channel per group, Ho Wo H W at most
/// a bound) as dense per-channel matrix products: the kernel times a constant 0/1 tensor gives each channel's
/// [H W, Ho Wo] matrix, and one batched MatMul over the channels applies it to X transposed to [C, N, H W]. Same values
/// (the products and sums of the convolution, in another order). ORT's CPU provider runs a grouped Conv as one small GEMM
/// per group and sample, whose call overhead dominates on small maps (MobileNetV3's 5x5 depthwise convolutions on 4x4 and
/// 2x2 maps; see docs/autodiff.md, "Convolution decompositions and measured costs"); the reverse-mode sweep then
/// differentiates the MatMuls, which gives the dense input and weight gradients too. Applied to CPU training and
/// evaluation graphs only, to convolutions whose weights are graph inputs (trained): frozen weights are constants, for
/// which ORT's own kernels are faster.
/// </summary>
internal static class DepthwiseLowering
{
    /// <summary>
    /// Largest Ho Wo H W lowered by default on the CPU: the dense forms beat ORT's grouped Conv up to 8x8 maps and lose at
    /// 16x16 (docs/autodiff.md, `convgrad cpu`).
    /// </summary>
    public const long DefaultMaxPairs = 4096;

    /// <summary>Lowers the qualifying Conv nodes of <paramref name="b"/>'s graph in place; returns how many. New values' shapes go into <paramref name="shapes"/>.</summary>
    public static int Apply(GraphBuilder b, ShapeTable shapes, long maxPairs = DefaultMaxPairs)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(shapes);
        var e = new GradEmitter(b, shapes);
        // Initializers that are not also graph inputs (those are overridable defaults), and Constant nodes' outputs.
        var inputs = new HashSet<string>(b.Graph.Input.Select(i => i.Name), StringComparer.Ordinal);
        var constants = new HashSet<string>(b.Graph.Initializer.Select(t => t.Name).Where(n => !inputs.Contains(n))
            .Concat(b.Graph.Node.Where(n => n.OpType == "Constant").Select(n => n.Output[0])), StringComparer.Ordinal);
        int lowered = 0;
        foreach (var n in b.Graph.Node.Where(n => n.OpType == "Conv").ToList())
        {
            // Constant (frozen) weights stay: ORT gives such a Conv its fast constant-weight kernels (NCHWc, fused with a
            // following batch norm and activation).
            if (constants.Contains(n.Input[1])) continue;
            if (!shapes.TryGet(n.Input[0], out var xd) || !shapes.TryGet(n.Input[1], out var wd) || !shapes.TryGet(n.Output[0], out var yd)) continue;
            if (xd.Length != 4 || wd.Length != 4 || xd.Skip(1).Any(d => d < 0)) continue;
            long group = n.GetInt("group", 1), ch = xd[1];
            if (group != ch || wd[0] != ch || wd[1] != 1 || ch < 2) continue;
            var g = GradientRules.Geometry(n, xd, yd, wd[2], wd[3], group);
            long hw = g.H * g.W, howo = g.Ho * g.Wo;
            if (howo * hw > maxPairs) continue;
            var t = shapes.TypeOf(n.Input[0]);
            if (t is not (ElementType.Float or ElementType.Double)) continue;
            string Reg(string v, params long[] dims) { shapes.Set(v, dims, t); return v; }

            int index = b.Graph.Node.IndexOf(n), before = b.Graph.Node.Count;
            var xt = Reg(e.Transpose(Reg(e.Op("Reshape", [n.Input[0], e.I64(-1, ch, hw)]), -1, ch, hw), 1, 0, 2), ch, -1, hw);
            var dense = GradientRules.DenseDepthwiseKernel(e, t, n.Input[1], ch, g, inputMajor: true); // [C, H W, Ho Wo]
            var yt = Reg(e.Op("MatMul", [xt, dense]), ch, -1, howo);                 // [C, N, Ho Wo]
            var y = Reg(e.Transpose(yt, 1, 0, 2), -1, ch, howo);
            if (n.Input.Count > 2 && n.Input[2].Length > 0)
                y = Reg(e.Op("Add", [y, Reg(e.Op("Reshape", [n.Input[2], e.I64(1, ch, 1)]), 1, ch, 1)]), -1, ch, howo);
            e.Op("Reshape", [y, e.I64(-1, ch, g.Ho, g.Wo)]);
            b.Graph.Node[^1].Output[0] = n.Output[0];                               // the last Reshape writes the Conv's output
            b.MoveAppendedTo(before, index);
            b.Graph.Node.Remove(n);
            lowered++;
        }
        return lowered;
    }
}
