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
    IReadOnlyList<int> HistoryEpochs);
