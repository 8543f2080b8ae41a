namespace Acwa.Onnx.Weighting;

/// <summary>
/// Adaptive variant with an additive error centred on the mean F1, so weights can fall as well as rise. After each
/// epoch, with <c>m = mean_c f_c</c> over all C classes:
/// <code>
/// u_c = w_c + eta*(m - f_c)
/// v_c = u_c * C / sum_j u_j          (mean 1)
/// w_c &lt;- clip(v_c, w_min, w_max)    (when clipping is on)
/// </code>
/// Defaults: eta 1.0, [w_min, w_max] = [0.2, 5], clipping on, weights start at 1. The centred errors sum to zero,
/// so the normalisation only undoes drift left by earlier clipping; after the clip the mean can differ slightly
/// from 1. A class with no support in the feedback split enters with the F1 it is given (normally 0).
/// Spec: <c>acwa-centered</c>, options <c>eta</c>, <c>min</c>, <c>max</c>, <c>clip=on|off</c>.
/// </summary>
public sealed class AcwaCenteredPolicy : CenteredF1Policy
{
    /// <summary>Creates the policy.</summary>
    /// <param name="numClasses">Number of classes.</param>
    /// <param name="eta">Step on the centred error (finite, non-negative).</param>
    /// <param name="minWeight">Lower clip bound (positive).</param>
    /// <param name="maxWeight">Upper clip bound.</param>
    /// <param name="clip">Whether the clip is applied.</param>
    public AcwaCenteredPolicy(int numClasses, double eta = 1.0, double minWeight = 0.2, double maxWeight = 5.0, bool clip = true)
        : base(numClasses, eta, minWeight, maxWeight, clip) { }

    private protected override string Name => "acwa-centered";

    private protected override double Move(double w, double error) => w + Eta * error;
}
