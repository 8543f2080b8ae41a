namespace Acwa.Onnx.Metrics;

/// <summary>Metrics of one class in a <see cref="ClassificationReport"/>. Ill-defined ratios are 0 (scikit-learn's <c>zero_division=0</c>).</summary>
/// <param name="Index">Class index in <c>[0, C)</c>.</param>
/// <param name="Name">Class name (the index as text when no names were given).</param>
/// <param name="Precision">TP / predicted count; 0 when the class was never predicted.</param>
/// <param name="Recall">TP / support; 0 when the class has no support.</param>
/// <param name="F1">2PR / (P + R); 0 when P + R = 0.</param>
/// <param name="Support">Samples whose true label is this class (including NaN rows counted as wrong).</param>
/// <param name="Predicted">Samples predicted as this class.</param>
/// <param name="TruePositives">Samples of this class predicted as this class.</param>
/// <param name="IsAbsent">True when the class appears neither in the labels nor in the predictions (support = predicted = 0).</param>
public sealed record ClassMetrics(int Index, string Name, double Precision, double Recall, double F1,
    long Support, long Predicted, long TruePositives, bool IsAbsent);
