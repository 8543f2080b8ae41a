using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Training.Compiler.Losses;

/// <summary>Names produced by <see cref="LossFragment.Append"/>.</summary>
/// <param name="Loss">fp32 scalar loss value.</param>
/// <param name="DLogits">fp32 [N, C] gradient of the loss w.r.t. the logits, in closed form.</param>
/// <param name="Controls">Graph inputs the fragment declared (class weights, knobs), with roles and defaults.</param>
/// <param name="LossSum">With the sum form: the weighted loss sum S (fp32 scalar), else null.</param>
/// <param name="Normalizer">With the sum form: the normaliser Z with Loss = S / Z (sum of the batch's class weights, or N for
/// focal), else null.</param>
internal sealed record LossGraph(string Loss, string DLogits, IReadOnlyList<ControlInput> Controls, string? LossSum = null, string? Normalizer = null);

/// <summary>
/// Appends a loss and its closed-form gradient w.r.t. the logits to a graph. Every knob (class weights, gamma, margins, scale,
/// log prior, tau) is a graph input, never a constant, so the runtime changes it without rebuilding. Forward values use
/// LogSoftmax, so logits of magnitude 1e4 (or -1e30 on non-target classes) give finite loss and gradient.
/// Labels are int64 [N] in [0, C): a label >= C makes ORT's Gather fail, and a negative label wraps around like an ONNX
/// index (-1 is class C - 1), so the runtime must validate labels.
/// </summary>
internal static class LossFragment
{
    /// <summary>Smallest value 1 - p_t is clamped to before the focal power.</summary>
    public const float FocalTiny = 1e-12f;

    /// <summary>
    /// Appends the loss. With <paramref name="sumForm"/> (the split step's gradients graph) <see cref="LossGraph.DLogits"/> is
    /// the gradient of the weighted loss SUM S = Z L (not of the mean L), and <see cref="LossGraph.LossSum"/> and
    /// <see cref="LossGraph.Normalizer"/> are set: ranks of a data-parallel step add their S gradients and their Z, then
    /// divide. Without it the nodes are exactly those of the fused step graph.
    /// </summary>
    public static LossGraph Append(GraphBuilder b, ArtifactOptions o, string logits, string labels, int numClasses, bool sumForm = false)
    {
        var g = new GraphOps(b);
        var controls = new List<ControlInput>();
        string Control(string name, long[] shape, string role, float[] def)
        {
            var n = GraphOps.InputUnique(b, name, ElementType.Float, shape.Select(d => (long?)d).ToArray());
            controls.Add(new ControlInput(n, shape, role, def));
            return n;
        }
        float[] PerClass(float[]? v, float fill, string what)
        {
            if (v is null) return Enumerable.Repeat(fill, numClasses).ToArray();
            if (v.Length != numClasses) throw new ArgumentException($"{what} has {v.Length} values but the model has {numClasses} classes");
            for (int c = 0; c < v.Length; c++)
                if (!float.IsFinite(v[c]) || (what == "ClassWeights" && v[c] < 0))
                    throw new ArgumentException($"{what}[{c}] = {v[c]} is not a finite{(what == "ClassWeights" ? ", non-negative" : "")} number");
            return (float[])v.Clone();
        }

        var w = Control("class_weights", [numClasses], ControlRoles.ClassWeights, PerClass(o.ClassWeights, 1f, "ClassWeights"));
        var oh = OneHot(b, labels, numClasses);
        switch (o.Loss)
        {
            case LossKind.CrossEntropy:
            {
                var r = WeightedCe(g, logits, oh, w, labels, sumForm);
                return new LossGraph(r.Loss, r.DZ, controls, r.Sum, r.Z);
            }
            case LossKind.Focal:
            {
                var gamma = Control("focal_gamma", [], ControlRoles.FocalGamma, [o.FocalGamma]);
                var r = Focal(g, logits, oh, w, labels, gamma, sumForm);
                return new LossGraph(r.Loss, r.DZ, controls, r.Sum, r.Z);
            }
            case LossKind.Ldam:
            {
                var m = Control("ldam_margins", [numClasses], ControlRoles.LdamMargins, PerClass(o.LdamMargins, 0f, "LdamMargins"));
                var s = Control("ldam_scale", [], ControlRoles.LdamScale, [o.LdamScale]);
                var zAdj = g.Mul(g.Sub(logits, g.Mul(oh, m)), s);
                var r = WeightedCe(g, zAdj, oh, w, labels, sumForm);
                return new LossGraph(r.Loss, g.Mul(r.DZ, s), controls, r.Sum, r.Z);
            }
            case LossKind.LogitAdjusted:
            {
                var lp = Control("log_prior", [numClasses], ControlRoles.LogPrior, PerClass(o.LogPrior, 0f, "LogPrior"));
                var tau = Control("la_tau", [], ControlRoles.LogitAdjustTau, [o.LogitAdjustTau]);
                var zAdj = g.Add(logits, g.Mul(lp, tau));
                var r = WeightedCe(g, zAdj, oh, w, labels, sumForm);
                return new LossGraph(r.Loss, r.DZ, controls, r.Sum, r.Z);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(o), o.Loss, "unknown loss kind");
        }
    }

    /// <summary>fp32 one-hot [N, C] of int64 labels [N].</summary>
    public static string OneHot(GraphBuilder b, string labels, int numClasses)
    {
        var depth = b.ConstInt64("onehot_depth", numClasses);
        var values = b.ConstFloat("onehot_values", [2], 0f, 1f);
        return b.Op("OneHot", [labels, depth, values], Attr.Int("axis", -1));
    }

    /// <summary>
    /// L = sum_i w[y_i] (-log softmax(z_i)[y_i]) / sum_i w[y_i]; dZ_i = w[y_i] (softmax(z_i) - onehot_i) / sum_j w[y_j].
    /// All-zero weights of the batch's labels give 0/0 = NaN (documented; the runtime must not feed them).
    /// </summary>
    /// With <paramref name="sumForm"/>: dZ_i = w[y_i] (softmax(z_i) - onehot_i), the gradient of S = sum_i w[y_i] l_i; Z = sum_i w[y_i].
    private static (string Loss, string DZ, string? Sum, string? Z) WeightedCe(GraphOps g, string z, string oh, string w, string labels, bool sumForm)
    {
        var ls = g.B.Op("LogSoftmax", [z], Attr.Int("axis", 1));
        var nll = g.Neg(g.ReduceSum(g.Mul(oh, ls), 1));
        var wy = g.Gather(w, labels);
        var sw = g.ReduceSum(wy);
        if (sumForm)
        {
            var sum = g.ReduceSum(g.Mul(wy, nll));
            return (g.Div(sum, sw), g.Mul(g.Sub(g.Exp(ls), oh), g.Unsqueeze(wy, 1)), sum, sw);
        }
        var loss = g.Div(g.ReduceSum(g.Mul(wy, nll)), sw);
        var coef = g.Unsqueeze(g.Div(wy, sw), 1);
        var dz = g.Mul(g.Sub(g.Exp(ls), oh), coef);
        return (loss, dz, null, null);
    }

    /// <summary>
    /// l_i = -alpha[y_i] q_i^gamma log p_t with q_i = max(sum_{j != y_i} p_ij, tiny) (= 1 - p_t computed without cancellation);
    /// L = mean_i l_i; dZ_ij = alpha[y_i] (gamma q^(gamma-1) p_t log p_t - q^gamma) (onehot_ij - p_ij) / N.
    /// </summary>
    /// With <paramref name="sumForm"/>: the gradient of S = sum_i l_i (no 1/N), and Z = N.
    private static (string Loss, string DZ, string? Sum, string? Z) Focal(GraphOps g, string z, string oh, string alpha, string labels, string gamma, bool sumForm)
    {
        var ls = g.B.Op("LogSoftmax", [z], Attr.Int("axis", 1));
        var p = g.Exp(ls);
        var logPt = g.ReduceSum(g.Mul(oh, ls), 1);
        var pt = g.Exp(logPt);
        var q = g.Max(g.ReduceSum(g.Mul(p, g.Sub(g.K(1f, "one"), oh)), 1), g.K(FocalTiny, "focal_tiny"));
        var qg = g.Pow(q, gamma);
        var qg1 = g.Pow(q, g.Sub(gamma, g.K(1f, "one")));
        var ay = g.Gather(alpha, labels);
        var perSample = g.Neg(g.Mul(g.Mul(ay, qg), logPt));
        string? sum = sumForm ? g.ReduceSum(perSample) : null;
        var loss = sumForm ? null! : g.MeanAll(perSample);
        // N as an fp32 scalar counted on the device: ReduceSum(ConstantOfShape(Shape(labels), 1)). Cast(Shape(labels))
        // would be shape arithmetic that ONNX Runtime runs on the CPU EP.
        var ones = g.B.Op("ConstantOfShape", [g.B.Op("Shape", [labels])], Attr.Tensor("value", Tensors.Float("one", [1], [1f])));
        var n = g.ReduceSum(ones);
        var inner = g.Sub(g.Mul(g.Mul(gamma, qg1), g.Mul(pt, logPt)), qg);
        if (sumForm)
            return (g.Div(sum!, n), g.Mul(g.Sub(oh, p), g.Unsqueeze(g.Mul(ay, inner), 1)), sum, n);
        var coef = g.Unsqueeze(g.Div(g.Mul(ay, inner), n), 1);
        var dz = g.Mul(g.Sub(oh, p), coef);
        return (loss, dz, null, null);
    }
}
