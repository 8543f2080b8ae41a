using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Autodiff;

/// <summary>
/// Rewrites InstanceNormalization and GroupNormalization as LayerNormalization with unit scale followed by their affine
/// part as a Mul and an Add: the same formula ((X - mean) / sqrt(var + epsilon), biased variance), whose gradients the
/// LayerNormalization and elementwise rules give. Applied to training graphs; the evaluation graph and the inference
/// export keep the nodes. Needs fixed channel and spatial sizes (LayerNormalization's scale has the normalised shape).
/// <list type="bullet">
/// <item>InstanceNormalization (what torch.onnx exports for GroupNorm and InstanceNorm): statistics per sample and channel
/// over the spatial axes, LayerNormalization over axes 2..; scale and bias per channel.</item>
/// <item>GroupNormalization (opset 18: scale and bias per group; opset 21: per channel): X viewed as [N, G, C/G x spatial],
/// LayerNormalization over axis 2.</item>
/// </list>
/// </summary>
internal static class NormalizationLowering
{
    /// <summary>Lowers every InstanceNormalization and GroupNormalization of <paramref name="b"/>'s graph in place; returns how many. New values' shapes go into <paramref name="shapes"/>.</summary>
    public static int Apply(GraphBuilder b, ShapeTable shapes, long opset)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(shapes);
        var e = new GradEmitter(b, shapes);
        int lowered = 0;
        foreach (var n in b.Graph.Node.Where(n => n.OpType is "InstanceNormalization" or "GroupNormalization" && n.Domain is "" or "ai.onnx").ToList())
        {
            if (!shapes.TryGet(n.Input[0], out var xd)) continue;
            if (xd.Length < 3 || xd.Skip(1).Any(d => d < 0))
                throw new NotSupportedException($"node '{n.Name}' ({n.OpType}): input '{n.Input[0]}' is [{string.Join(", ", xd)}]; training it needs [N, C, spatial...] with fixed C and spatial sizes");
            var t = shapes.TypeOf(n.Input[0]);
            long ch = xd[1], spatial = xd.Skip(2).Aggregate(1L, (p, d) => p * d);
            var perChannel = Enumerable.Range(0, xd.Length).Select(i => i == 1 ? ch : 1L).ToArray();
            float eps = n.GetFloat("epsilon", 1e-5f);
            string Reg(string v, long[] dims) { shapes.Set(v, dims, t); return v; }
            string Ones(long[] dims) => e.Const("norm_ones", dims, Enumerable.Repeat(1.0, (int)dims.Aggregate(1L, (p, d) => p * d)).ToArray(), t);
            string Affine(string v, long[] vd, long[] paramDims) =>
                Reg(e.Op("Add", [Reg(e.Mul(v, Reg(e.Op("Reshape", [n.Input[1], e.I64(paramDims)]), paramDims)), vd),
                    Reg(e.Op("Reshape", [n.Input[2], e.I64(paramDims)]), paramDims)]), vd);

            int index = b.Graph.Node.IndexOf(n), before = b.Graph.Node.Count;
            if (n.OpType == "InstanceNormalization")
            {
                var normalized = Reg(e.Op("LayerNormalization", [n.Input[0], Ones(xd.Skip(2).ToArray())],
                    Attr.Int("axis", 2), Attr.Float("epsilon", eps)), xd);
                Affine(normalized, xd, perChannel);
            }
            else
            {
                long groups = n.GetInt("num_groups", 0);
                if (groups < 1 || ch % groups != 0)
                    throw new NotSupportedException($"node '{n.Name}' (GroupNormalization): num_groups {groups} does not divide the {ch} channels");
                long[] grouped = [xd[0], groups, ch / groups * spatial];
                var view = Reg(e.Op("Reshape", [n.Input[0], e.I64(0, groups, ch / groups * spatial)]), grouped);
                var normalized = Reg(e.Op("LayerNormalization", [view, Ones([grouped[2]])], Attr.Int("axis", 2), Attr.Float("epsilon", eps)), grouped);
                if (opset < 21) // scale and bias per group
                    e.Op("Reshape", [Affine(normalized, grouped, [groups, 1]), e.I64([0, .. xd.Skip(1)])]);
                else
                    Affine(Reg(e.Op("Reshape", [normalized, e.I64([0, .. xd.Skip(1)])]), xd), xd, perChannel);
            }
            b.Graph.Node[^1].Output[0] = n.Output[0]; // the last node writes the node's output
            b.MoveAppendedTo(before, index);
            b.Graph.Node.Remove(n);
            lowered++;
        }
        return lowered;
    }
}
