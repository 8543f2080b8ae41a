namespace Acwa.Onnx.Metrics;

/// <summary>What a confusion matrix does with a logit row that contains NaN (the row has no well-defined argmax).</summary>
public enum NanPolicy
{
    /// <summary>
    /// Default. Throw an <see cref="ArgumentException"/> naming the first row (0-based sample index) that holds a NaN;
    /// the matrix is left unchanged.
    /// </summary>
    Throw = 0,

    /// <summary>
    /// Count the row as a misclassification of its true class: it adds to <see cref="ConfusionMatrix.InvalidCounts"/>
    /// for that class (so to the class's support, to <see cref="ConfusionMatrix.Total"/>, and lowers recall and accuracy)
    /// but to no predicted column (so it never raises any class's precision). The number of such rows is
    /// reported separately (<see cref="ConfusionMatrix.InvalidTotal"/>).
    /// </summary>
    CountAsWrong = 1,
}
