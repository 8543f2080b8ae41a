using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>Gradient accumulation and global-norm clipping, between the reverse pass and the optimizer.</summary>
internal static class GradientTransforms
{
    /// <summary>
    /// Accumulation with a reset flag: acc = reset ? g : acc + g per parameter (state kind Optimizer, named PARAM.grad_acc);
    /// returns acc / k per parameter and the bool "apply" flag value. Declares the reset, apply and k controls.
    /// </summary>
    public static (string[] Grads, string Apply) Accumulate(GraphBuilder b, StateRegistry state, List<ControlInput> controls,
        IReadOnlyList<string> parameters, IReadOnlyList<long[]> shapes, IReadOnlyList<string> grads, int k)
    {
        var g = new GraphOps(b);
        string Control(string name, string role, float def)
        {
            var n = GraphOps.InputUnique(b, name, ElementType.Float);
            controls.Add(new ControlInput(n, [], role, [def]));
            return n;
        }
        var reset = g.Greater(Control("accumulate_reset", ControlRoles.AccumulateReset, 1f), g.K(0.5f, "half"));
        var apply = g.Greater(Control("accumulate_apply", ControlRoles.AccumulateApply, 1f), g.K(0.5f, "half"));
        var kIn = Control("accumulate_steps", ControlRoles.AccumulateSteps, k);
        var result = new string[grads.Count];
        for (int i = 0; i < grads.Count; i++)
        {
            var acc = state.Declare(parameters[i] + ".grad_acc", StateKind.Optimizer, shapes[i]);
            var accNext = g.Where(reset, grads[i], g.Add(acc, grads[i]));
            state.Bind(acc, accNext);
            result[i] = g.Div(accNext, kIn);
        }
        return (result, apply);
    }

    /// <summary>
    /// Global-norm clipping: scale = min(1, max_norm / (sqrt(sum of all g^2) + 1e-6)); every gradient is multiplied by it.
    /// Declares the clip_norm control. Returns the scaled gradients and the (unclipped) global norm value.
    /// </summary>
    public static (string[] Grads, string Norm) Clip(GraphBuilder b, List<ControlInput> controls, IReadOnlyList<string> grads, float maxNorm)
    {
        if (!(maxNorm > 0)) throw new ArgumentException($"clip norm must be > 0 (got {maxNorm})");
        var g = new GraphOps(b);
        var n = GraphOps.InputUnique(b, "clip_norm", ElementType.Float);
        controls.Add(new ControlInput(n, [], ControlRoles.ClipNorm, [maxNorm]));
        string total = g.SumSquares(grads[0]);
        for (int i = 1; i < grads.Count; i++) total = g.Add(total, g.SumSquares(grads[i]));
        var norm = g.Sqrt(total);
        var scale = g.Min(g.K(1f, "one"), g.Div(n, g.Add(norm, g.K(1e-6f, "clip_eps"))));
        return (grads.Select(x => g.Mul(x, scale)).ToArray(), norm);
    }
}
