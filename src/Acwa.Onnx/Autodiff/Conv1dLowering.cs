using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Autodiff;

/// <summary>
/// Rewrites 1-D convolutions and poolings (Conv, MaxPool, AveragePool on [N, C, L]: PyTorch's Conv1d, MaxPool1d,
/// AvgPool1d) as their 2-D forms on [N, C, 1, L]: X and the Conv weight reshaped to one row, kernel_shape [1, k],
/// pads [0, b, 0, e], strides [1, s], dilations [1, d], the output reshaped back. Same values (a 1 x k window over a
/// single row is the 1-D window), and the 2-D gradient rules then apply. MaxPool's Indices output is unchanged too: with
/// one row, the flat 2-D index of an element equals its flat 1-D index. Applied to training graphs, before the other
/// lowerings; the evaluation graph and the inference export keep the model's 1-D nodes.
/// </summary>
internal static class Conv1dLowering
{
    private static readonly HashSet<string> Lowered = new(StringComparer.Ordinal) { "Conv", "MaxPool", "AveragePool" };

    /// <summary>Lowers every 1-D Conv, MaxPool and AveragePool of <paramref name="b"/>'s graph in place; returns how many. New values' shapes go into <paramref name="shapes"/>.</summary>
    public static int Apply(GraphBuilder b, ShapeTable shapes)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(shapes);
        int lowered = 0;
        string? rowShape = null, unrowShape = null;
        foreach (var n in b.Graph.Node.Where(n => Lowered.Contains(n.OpType) && n.Domain is "" or "ai.onnx").ToList())
        {
            if (!shapes.TryGet(n.Input[0], out var xd) || xd.Length != 3) continue;
            int index = b.Graph.Node.IndexOf(n), before = b.Graph.Node.Count;
            string Row(string value)
            {
                var dims = shapes[value];
                var r = b.Op("Reshape", [value, rowShape ??= b.ConstInt64("conv1d_row_shape", 0, 0, 1, -1)]);
                shapes.Set(r, [dims[0], dims[1], 1, dims[2]], shapes.TypeOf(value));
                return r;
            }
            n.Input[0] = Row(n.Input[0]);
            if (n.OpType == "Conv") n.Input[1] = Row(n.Input[1]);
            foreach (var a in n.Attribute)
            {
                switch (a.Name)
                {
                    case "kernel_shape" or "strides" or "dilations":
                        Widen(a, 1);
                        break;
                    case "pads":
                        if (a.Ints.Count != 2) throw Bad(n, $"pads has {a.Ints.Count} values, a 1-D node has 2");
                        var (begin, end) = (a.Ints[0], a.Ints[1]);
                        a.Ints.Clear();
                        a.Ints.Add([0, begin, 0, end]);
                        break;
                }
            }
            b.MoveAppendedTo(before, index);
            // Each output (Y, and MaxPool's Indices) is computed on [N, C', 1, L'] and reshaped back to [N, C', L'].
            for (int i = 0; i < n.Output.Count; i++)
            {
                var y = n.Output[i];
                if (y.Length == 0) continue;
                var row = b.Unique(y + "_row");
                n.Output[i] = row;
                int at = b.Graph.Node.IndexOf(n) + 1, count = b.Graph.Node.Count;
                b.Op("Reshape", [row, unrowShape ??= b.ConstInt64("conv1d_unrow_shape", 0, 0, -1)]);
                b.Graph.Node[^1].Output[0] = y;
                b.MoveAppendedTo(count, at);
                if (shapes.TryGet(y, out var yd)) shapes.Set(row, [yd[0], yd[1], 1, yd[2]], shapes.TypeOf(y));
            }
            lowered++;
        }
        return lowered;
    }

    private static void Widen(AttributeProto a, long leading)
    {
        if (a.Ints.Count != 1) return; // already checked by ONNX Runtime's shape inference; leave malformed values to it
        var v = a.Ints[0];
        a.Ints.Clear();
        a.Ints.Add([leading, v]);
    }

    private static NotSupportedException Bad(NodeProto n, string what) =>
        new($"node '{n.Name}' ({n.OpType}, 1-D): {what}");
}
