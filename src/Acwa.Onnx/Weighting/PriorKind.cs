namespace Acwa.Onnx.Weighting;

/// <summary>The frequency prior that <see cref="AcwaPriorPolicy"/> starts from and shrinks toward.</summary>
public enum PriorKind
{
    /// <summary>Class-balanced weights (<see cref="ClassPriors.ClassBalanced"/>), spec <c>prior=cb</c>.</summary>
    ClassBalanced,
    /// <summary>Inverse-frequency weights (<see cref="ClassPriors.InverseFrequency"/>), spec <c>prior=inv</c>.</summary>
    InverseFrequency,
    /// <summary>All 1 (F1 feedback only), spec <c>prior=uniform</c>.</summary>
    Uniform,
}
