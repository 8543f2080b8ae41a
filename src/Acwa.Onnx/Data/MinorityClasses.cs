namespace Acwa.Onnx.Data;

/// <summary>
/// Which classes a run reports as its minority (the minority-class F1 of <c>acwa train</c> and test_report.json), chosen
/// from the data, not by class index:
/// <list type="bullet">
/// <item>under the paper's protocol (<see cref="ImbalanceProtocol.PaperStep"/>, <c>step</c>: the upper half of the classes
/// keeps 10 %), the classes it reduced, <c>C/2 .. C-1</c> (5-9 of 10), as the paper reports them;</item>
/// <item>otherwise the classes whose training count is below <see cref="ShareOfEqual"/> (half) of an equal share,
/// <c>n_c &lt; 0.5 N / C</c> with N the training samples and C the classes. Balanced data have none; 1000/100/20 samples
/// give classes 1 and 2; the same data with labels reversed give classes 0 and 1.</item>
/// </list>
/// </summary>
public static class MinorityClasses
{
    /// <summary>A class is a minority class when its share of the training samples is below this fraction of 1/C.</summary>
    public const double ShareOfEqual = 0.5;

    /// <summary>
    /// The minority classes of a run that applied <paramref name="protocol"/> and trains on <paramref name="trainCounts"/>
    /// samples per class (after the protocol), in ascending order: <see cref="UpperHalf"/> under the paper's protocol,
    /// else <see cref="ByCounts"/>.
    /// </summary>
    public static int[] For(ImbalanceProtocol protocol, ReadOnlySpan<long> trainCounts)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        return IsPaperProtocol(protocol) ? UpperHalf(trainCounts.Length) : ByCounts(trainCounts);
    }

    /// <summary>The classes with fewer than <see cref="ShareOfEqual"/> <c>N / C</c> training samples, in ascending order.</summary>
    public static int[] ByCounts(ReadOnlySpan<long> trainCounts)
    {
        if (trainCounts.Length == 0) return [];
        double total = 0;
        foreach (var n in trainCounts) total += n;
        double below = ShareOfEqual * total / trainCounts.Length;
        var minority = new List<int>();
        for (int c = 0; c < trainCounts.Length; c++)
            if (trainCounts[c] < below) minority.Add(c);
        return minority.ToArray();
    }

    /// <summary>The paper's minority set: classes <c>C/2 .. C-1</c> (C/2 rounded down; 5-9 of 10).</summary>
    public static int[] UpperHalf(int classes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(classes);
        return Enumerable.Range(classes / 2, classes - classes / 2).ToArray();
    }

    /// <summary>Whether <paramref name="protocol"/> is the paper's (<see cref="ImbalanceProtocol.PaperStep"/>: <c>step</c> = <c>step:0.1</c> on the upper half).</summary>
    public static bool IsPaperProtocol(ImbalanceProtocol protocol)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        return protocol == ImbalanceProtocol.PaperStep;
    }

    /// <summary>How <see cref="For"/> chose for <paramref name="protocol"/>, in words (test_report.json's <c>minority.rule</c>).</summary>
    public static string Rule(ImbalanceProtocol protocol) => IsPaperProtocol(protocol)
        ? "the paper's step protocol: classes C/2..C-1, which keep 10 %"
        : $"classes with fewer than {ShareOfEqual.ToString(System.Globalization.CultureInfo.InvariantCulture)} N/C training samples";
}
