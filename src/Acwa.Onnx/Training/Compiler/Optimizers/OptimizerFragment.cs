using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Training.Compiler.Optimizers;

/// <summary>The per-step scalar inputs an optimizer reads (null where the optimizer does not need one).</summary>
internal sealed record OptimizerControls(string Lr, string? Bias1, string? Bias2, string? FirstStep);

/// <summary>
/// Appends optimizer updates per parameter (PyTorch semantics). Learning rate and bias corrections are graph inputs so that
/// any schedule works; momentum, betas, epsilon and weight decay are constants.
/// <list type="bullet">
/// <item>SGD: g += wd theta; buf = first_step ? g : mu buf + (1 - dampening) g; step = Nesterov ? g + mu buf : buf; theta -= lr step.</item>
/// <item>Adam: g += wd theta; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; theta -= lr (m / bias1) / (sqrt(v / bias2) + eps).</item>
/// <item>AdamW: theta *= 1 - lr wd, then the Adam step without the L2 term.</item>
/// </list>
/// When an <c>apply</c> flag is given (gradient accumulation), parameters and optimizer state pass through unchanged unless it is true.
/// </summary>
internal static class OptimizerFragment
{
    /// <summary>Validates the options and declares the optimizer's control inputs.</summary>
    public static OptimizerControls DeclareControls(GraphBuilder b, ArtifactOptions o, List<ControlInput> controls)
    {
        Validate(o);
        string Control(string name, string role, float def)
        {
            var n = GraphOps.InputUnique(b, name, ElementType.Float);
            controls.Add(new ControlInput(n, [], role, [def]));
            return n;
        }
        var lr = Control("lr", ControlRoles.LearningRate, o.LearningRate);
        return o.Optimizer switch
        {
            OptimizerKind.Sgd => new OptimizerControls(lr, null, null, o.Momentum != 0 ? Control("first_step", ControlRoles.FirstStep, 1f) : null),
            _ => new OptimizerControls(lr, Control("adam_bias1", ControlRoles.AdamBias1, 1f - o.Beta1), Control("adam_bias2", ControlRoles.AdamBias2, 1f - o.Beta2), null),
        };
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad hyper-parameter.</summary>
    public static void Validate(ArtifactOptions o)
    {
        if (!(o.LearningRate >= 0)) throw new ArgumentException($"learning rate must be >= 0 (got {o.LearningRate})");
        if (!(o.WeightDecay >= 0)) throw new ArgumentException($"weight decay must be >= 0 (got {o.WeightDecay})");
        if (!(o.Momentum >= 0)) throw new ArgumentException($"momentum must be >= 0 (got {o.Momentum})");
        if (o.Nesterov && (o.Momentum <= 0 || o.Dampening != 0))
            throw new ArgumentException($"Nesterov momentum requires momentum > 0 and dampening 0 (got momentum {o.Momentum}, dampening {o.Dampening})");
        if (!(o.Beta1 >= 0 && o.Beta1 < 1)) throw new ArgumentException($"beta1 must be in [0, 1) (got {o.Beta1})");
        if (!(o.Beta2 >= 0 && o.Beta2 < 1)) throw new ArgumentException($"beta2 must be in [0, 1) (got {o.Beta2})");
        if (!(o.Epsilon >= 0)) throw new ArgumentException($"epsilon must be >= 0 (got {o.Epsilon})");
    }

    /// <summary>
    /// Appends the update of one parameter tensor (or of all parameters flattened into one vector, see
    /// <see cref="ArtifactOptions.FusedOptimizer"/>), declares and binds its optimizer state (named
    /// <paramref name="stateName"/><c>.momentum</c>, <c>.adam_m</c>, <c>.adam_v</c>) in <paramref name="state"/>, and returns
    /// the parameter's next value; the caller binds it. <paramref name="param"/> is the current value, <paramref name="grad"/>
    /// its (clipped, accumulated) gradient of the same shape.
    /// </summary>
    public static string Update(GraphBuilder b, ArtifactOptions o, OptimizerControls c, StateRegistry state,
        string param, string stateName, long[] shape, string grad, string? apply)
    {
        var g = new GraphOps(b);
        string Gate(string next, string current) => apply is null ? next : g.Where(apply, next, current);

        if (o.Optimizer == OptimizerKind.Sgd)
        {
            var grad2 = o.WeightDecay != 0 ? g.Add(grad, g.Mul(g.K(o.WeightDecay, "weight_decay"), param)) : grad;
            string step = grad2;
            if (o.Momentum != 0)
            {
                var buf = state.Declare(stateName + ".momentum", StateKind.Optimizer, shape);
                var mu = g.K(o.Momentum, "momentum");
                var upd = g.Add(g.Mul(mu, buf), o.Dampening != 0 ? g.Mul(g.K(1f - o.Dampening, "one_minus_dampening"), grad2) : grad2);
                var first = g.Greater(c.FirstStep!, g.K(0.5f, "half"));
                var bufNext = g.Where(first, grad2, upd);
                state.Bind(buf, Gate(bufNext, buf));
                step = o.Nesterov ? g.Add(grad2, g.Mul(mu, bufNext)) : bufNext;
            }
            return Gate(g.Sub(param, g.Mul(c.Lr, step)), param);
        }

        var gAdam = o.Optimizer == OptimizerKind.Adam && o.WeightDecay != 0 ? g.Add(grad, g.Mul(g.K(o.WeightDecay, "weight_decay"), param)) : grad;
        var m = state.Declare(stateName + ".adam_m", StateKind.Optimizer, shape);
        var v = state.Declare(stateName + ".adam_v", StateKind.Optimizer, shape);
        var mNext = g.Add(g.Mul(g.K(o.Beta1, "beta1"), m), g.Mul(g.K(1f - o.Beta1, "one_minus_beta1"), gAdam));
        var vNext = g.Add(g.Mul(g.K(o.Beta2, "beta2"), v), g.Mul(g.K(1f - o.Beta2, "one_minus_beta2"), g.Mul(gAdam, gAdam)));
        var denom = g.Add(g.Sqrt(g.Div(vNext, c.Bias2!)), g.K(o.Epsilon, "adam_eps"));
        var upd2 = g.Mul(c.Lr, g.Div(g.Div(mNext, c.Bias1!), denom));
        var theta = o.Optimizer == OptimizerKind.AdamW && o.WeightDecay != 0
            ? g.Mul(param, g.Sub(g.K(1f, "one"), g.Mul(c.Lr, g.K(o.WeightDecay, "weight_decay"))))
            : param;
        state.Bind(m, Gate(mNext, m));
        state.Bind(v, Gate(vNext, v));
        return Gate(g.Sub(theta, upd2), param);
    }
}
