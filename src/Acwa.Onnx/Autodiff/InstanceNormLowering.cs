using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Autodiff;

/// <summary>
/// Rewrites InstanceNormalization (what torch.onnx exports for GroupNorm and InstanceNorm: statistics per sample and
/// channel over the spatial axes) as LayerNormalization over axes 2.. with unit scale, then the per-channel scale and
/// bias as a Mul and an Add: the same formula ((X - mean) / sqrt(var + epsilon) per [n, c] slice, biased variance),
/// whose gradients the LayerNormalization and elementwise rules give. Needs fixed spatial sizes (LayerNormalization's
/// scale has their shape). Applied to training graphs; the evaluation graph and the inference export keep the node.
/// </summary>
public static class InstanceNormLowering
{
    /// <summary>Lowers every InstanceNormalization of <paramref name="b"/>'s graph in place; returns how many. New values' shapes go into <paramref name="shapes"/>.</summary>
    public static int Apply(GraphBuilder b, ShapeTable shapes)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(shapes);
        var e = new GradEmitter(b, shapes);
        int lowered = 0;
        foreach (var n in b.Graph.Node.Where(n => n.OpType == "InstanceNormalization" && n.Domain is "" or "ai.onnx").ToList())
        {
            if (!shapes.TryGet(n.Input[0], out var xd)) continue;
            if (xd.Length < 3 || xd.Skip(2).Any(d => d < 0) || xd[1] < 0)
                throw new NotSupportedException($"node '{n.Name}' (InstanceNormalization): input '{n.Input[0]}' is [{string.Join(", ", xd)}]; training it needs [N, C, spatial...] with fixed C and spatial sizes");
            var t = shapes.TypeOf(n.Input[0]);
            long ch = xd[1];
            var spatial = xd.Skip(2).ToArray();
            var perChannel = Enumerable.Range(0, xd.Length).Select(i => i == 1 ? ch : 1L).ToArray();
            string Reg(string v, long[] dims) { shapes.Set(v, dims, t); return v; }

            int index = b.Graph.Node.IndexOf(n), before = b.Graph.Node.Count;
            var ones = e.Const("instance_norm_ones", spatial, Enumerable.Repeat(1.0, (int)spatial.Aggregate(1L, (p, d) => p * d)).ToArray(), t);
            var normalized = Reg(e.Op("LayerNormalization", [n.Input[0], ones],
                Attr.Int("axis", 2), Attr.Float("epsilon", n.GetFloat("epsilon", 1e-5f))), xd);
            var scaled = Reg(e.Mul(normalized, Reg(e.Op("Reshape", [n.Input[1], e.I64(perChannel)]), perChannel)), xd);
            e.Op("Add", [scaled, Reg(e.Op("Reshape", [n.Input[2], e.I64(perChannel)]), perChannel)]);
            b.Graph.Node[^1].Output[0] = n.Output[0]; // the Add writes the node's output
            b.MoveAppendedTo(before, index);
            b.Graph.Node.Remove(n);
            lowered++;
        }
        return lowered;
    }
}
