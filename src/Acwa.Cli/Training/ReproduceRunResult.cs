namespace Acwa.Cli.Training;

/// <summary>
/// One (method, seed) run of <c>acwa reproduce</c> as the report needs it: test metrics of the final model, and the
/// per-epoch class weights and validation F1 (<c>[row][class]</c>), row i being epoch <c>HistoryEpochs[i]</c> (0-based).
/// </summary>
internal sealed record ReproduceRunResult(
    int Seed,
    string Dir,
    string Status,
    double Seconds,
    double MacroF1,
    double MinorityF1,
    double BalancedAccuracy,
    IReadOnlyList<string> ClassNames,
    double[] ClassF1,
    double[] FinalWeights,
    IReadOnlyList<double[]> Weights,
    IReadOnlyList<double[]> ValidationF1,
    IReadOnlyList<int> HistoryEpochs)
{
    /// <summary>
    /// The same run with the final epoch's validation metrics in place of the test metrics (macro-F1, minority-class F1 of
    /// the upper half of the classes, balanced accuracy, per-class F1), for <c>--split validation</c>.
    /// </summary>
    /// <exception cref="InvalidDataException">The run has no epoch history.</exception>
    public ReproduceRunResult WithValidationMetrics(double macroF1, double balancedAccuracy)
    {
        if (ValidationF1.Count == 0) throw new InvalidDataException($"run '{Dir}' has no validation history");
        var f1 = ValidationF1[^1];
        int half = f1.Length / 2;
        return this with
        {
            MacroF1 = macroF1, BalancedAccuracy = balancedAccuracy, ClassF1 = (double[])f1.Clone(),
            MinorityF1 = f1.Skip(half).Average(),
        };
    }
}
