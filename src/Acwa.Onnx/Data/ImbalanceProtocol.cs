using System.Globalization;

namespace Acwa.Onnx.Data;

/// <summary>
/// Makes a balanced training set imbalanced, reproducibly. Specs (<see cref="Parse"/>):
/// <list type="bullet">
/// <item><c>none</c>: keep everything.</item>
/// <item><c>step</c> = <c>step:0.1</c>, or <c>step:F[:c1,c2,...]</c>: the minority classes (default: the upper half,
/// classes <c>C/2 .. C-1</c> rounded down, i.e. 5-9 of 10) keep <c>floor(n_c * F)</c> images, the others keep all. On
/// CIFAR-10 this gives 5000 x 5 + 500 x 5, on Fashion-MNIST 6000 x 5 + 600 x 5.</item>
/// <item><c>lt:RHO</c>: long tail, class c keeps <c>min(n_c, floor(n_max * RHO^(-c/(C-1))))</c> with n_max the largest
/// class count (CIFAR-10 <c>lt:100</c>: 5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50).</item>
/// </list>
/// Every class keeps at least one image if it had any. Which images survive is a uniform random choice per class from a
/// generator seeded by (seed, class); the kept images stay in their original order.
/// </summary>
/// <param name="Kind">The profile.</param>
/// <param name="Fraction">For <see cref="ImbalanceKind.Step"/>: fraction kept by the minority classes, in (0, 1].</param>
/// <param name="Ratio">For <see cref="ImbalanceKind.LongTail"/>: rho = n_max / n_min, at least 1.</param>
/// <param name="MinorityClasses">For <see cref="ImbalanceKind.Step"/>: the minority classes; null means the upper half.</param>
public sealed record ImbalanceProtocol(ImbalanceKind Kind, double Fraction = 0.1, double Ratio = 1, IReadOnlyList<int>? MinorityClasses = null)
{
    /// <summary>No imbalance.</summary>
    public static ImbalanceProtocol None { get; } = new(ImbalanceKind.None);

    /// <summary>The paper's protocol: classes in the upper half keep 10%.</summary>
    public static ImbalanceProtocol PaperStep { get; } = new(ImbalanceKind.Step, 0.1);

    /// <summary>Parses <c>none</c>, <c>step</c>, <c>step:F</c>, <c>step:F:c1,c2,...</c> or <c>lt:RHO</c> (case-insensitive).</summary>
    /// <exception cref="FormatException">Unknown form or a value out of range; the message lists the accepted forms.</exception>
    public static ImbalanceProtocol Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        const string forms = "accepted: none, step, step:FRACTION, step:FRACTION:CLASS,CLASS,..., lt:RATIO";
        var parts = spec.Trim().Split(':');
        var kind = parts[0].ToLowerInvariant();
        switch (kind)
        {
            case "none" when parts.Length == 1:
                return None;
            case "step" when parts.Length <= 3:
                double f = parts.Length >= 2 ? ParseNumber(parts[1], spec, forms) : 0.1;
                if (!(f > 0 && f <= 1)) throw new FormatException($"imbalance '{spec}': fraction {f} must be in (0, 1]");
                int[]? classes = null;
                if (parts.Length == 3)
                {
                    classes = parts[2].Split(',', StringSplitOptions.TrimEntries).Select(c =>
                        int.TryParse(c, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
                            : throw new FormatException($"imbalance '{spec}': class '{c}' is not a non-negative integer ({forms})")).ToArray();
                    if (classes.Length == 0) throw new FormatException($"imbalance '{spec}': empty class list ({forms})");
                }
                return new ImbalanceProtocol(ImbalanceKind.Step, f, 1, classes);
            case "lt" when parts.Length == 2:
                double rho = ParseNumber(parts[1], spec, forms);
                if (!(rho >= 1) || double.IsInfinity(rho)) throw new FormatException($"imbalance '{spec}': ratio {rho} must be a finite number >= 1");
                return new ImbalanceProtocol(ImbalanceKind.LongTail, 1, rho);
            default:
                throw new FormatException($"unknown imbalance '{spec}' ({forms})");
        }
    }

    private static double ParseNumber(string s, string spec, string forms) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
            : throw new FormatException($"imbalance '{spec}': '{s}' is not a number ({forms})");

    /// <summary>How many images each class keeps, given the current per-class counts.</summary>
    /// <exception cref="ArgumentException">A minority class is outside <c>[0, C)</c>.</exception>
    public int[] TargetCounts(ReadOnlySpan<int> classCounts)
    {
        int c = classCounts.Length;
        var target = classCounts.ToArray();
        switch (Kind)
        {
            case ImbalanceKind.Step:
                var minority = MinorityClasses ?? Enumerable.Range(c / 2, c - c / 2).ToArray();
                foreach (var k in minority)
                {
                    if ((uint)k >= (uint)c) throw new ArgumentException($"minority class {k} is outside [0, {c})");
                    target[k] = KeepAtLeastOne(classCounts[k], Math.Floor(classCounts[k] * Fraction + 1e-9));
                }
                break;
            case ImbalanceKind.LongTail:
                int nMax = 0;
                foreach (var n in classCounts) nMax = Math.Max(nMax, n);
                for (int k = 0; k < c; k++)
                {
                    double want = c == 1 ? nMax : Math.Floor(nMax * Math.Pow(Ratio, -(double)k / (c - 1)) + 1e-9);
                    target[k] = KeepAtLeastOne(classCounts[k], Math.Min(classCounts[k], want));
                }
                break;
        }
        return target;
    }

    private static int KeepAtLeastOne(int available, double want) => available == 0 ? 0 : Math.Clamp((int)want, 1, available);

    /// <summary>
    /// Applies the protocol: a new dataset with <see cref="TargetCounts"/> samples per class, chosen uniformly at random
    /// per class with a generator derived from (<paramref name="seed"/>, class), kept in original order. Returns the
    /// input itself for <see cref="ImbalanceKind.None"/>.
    /// </summary>
    public T Apply<T>(T data, ulong seed) where T : ILabeledDataset<T>
    {
        ArgumentNullException.ThrowIfNull(data);
        if (Kind == ImbalanceKind.None) return data;
        var byClass = data.IndicesByClass();
        var target = TargetCounts(data.ClassCounts());
        var keep = new List<int>();
        for (int c = 0; c < byClass.Length; c++)
        {
            var idx = (int[])byClass[c].Clone();
            if (target[c] < idx.Length)
            {
                Xoshiro256StarStar.Derive(seed, 0x1A8A1A11CE, (ulong)c).Shuffle(idx.AsSpan());
                idx = idx[..target[c]];
            }
            keep.AddRange(idx);
        }
        keep.Sort();
        return data.Subset(keep.ToArray(), $"{data.Source}; imbalance {this} (seed {seed})");
    }

    /// <summary>The spec string this protocol parses from.</summary>
    public override string ToString() => Kind switch
    {
        ImbalanceKind.None => "none",
        ImbalanceKind.Step => MinorityClasses is null
            ? $"step:{Fraction.ToString(CultureInfo.InvariantCulture)}"
            : $"step:{Fraction.ToString(CultureInfo.InvariantCulture)}:{string.Join(",", MinorityClasses)}",
        _ => $"lt:{Ratio.ToString(CultureInfo.InvariantCulture)}",
    };
}
