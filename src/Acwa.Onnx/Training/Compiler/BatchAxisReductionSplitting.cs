using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>
/// Splits a ReduceSum / ReduceMean / ReduceSumSquare over the batch axis and other axes (batch-norm statistics and their
/// gradients, bias gradients: axes 0, 2, 3 of an NCHW tensor, down to C values) into two reductions: first over the other
/// axes (N x C outputs of H x W values each), then over axis 0 (Sum for Sum and SumSquare, Mean for Mean: the groups are
/// equal in size, so a mean of means is the mean). Same values up to the order of the additions. A single reduction to a
/// few outputs from millions of inputs leaves most of a GPU idle, and ORT's CUDA ReduceSum has fast kernels only for
/// reductions over leading or trailing axes, which the two stages are. Only constant, non-negative axes are rewritten.
/// </summary>
internal static class BatchAxisReductionSplitting
{
    private static readonly HashSet<string> Ops = new(StringComparer.Ordinal) { "ReduceSum", "ReduceMean", "ReduceSumSquare" };

    public static void Apply(GraphProto g)
    {
        var inits = g.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var b = new GraphBuilder(g);
        string? batchAxis = null;
        for (int i = 0; i < g.Node.Count; i++)
        {
            var n = g.Node[i];
            if (n.Domain.Length > 0 || !Ops.Contains(n.OpType) || n.Input.Count != 2 || !inits.TryGetValue(n.Input[1], out var axesTensor)) continue;
            var axes = Tensors.ToInt64s(axesTensor);
            if (axes.Length < 2 || !axes.Contains(0) || axes.Any(a => a < 0) || axes.Distinct().Count() != axes.Length) continue;
            if (n.GetInt("noop_with_empty_axes", 0) != 0) continue;
            var rest = b.ConstInt64($"{n.Name}/inner_axes", axes.Where(a => a != 0).ToArray());
            batchAxis ??= b.ConstInt64("batch_axis", 0);
            int before = g.Node.Count;
            var partial = b.Op(n.OpType, [n.Input[0], rest], [.. n.Attribute.Where(a => a.Name == "keepdims").Select(a => a.Clone())]);
            b.MoveAppendedTo(before, i++); // in front of the node, which now reduces the per-sample values over the batch
            n.OpType = n.OpType == "ReduceMean" ? "ReduceMean" : "ReduceSum";
            n.Input[0] = partial;
            n.Input[1] = batchAxis;
        }
    }
}
