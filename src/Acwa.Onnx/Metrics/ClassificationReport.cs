using System.Text;
using System.Text.Json;

namespace Acwa.Onnx.Metrics;

/// <summary>
/// Per-class and averaged classification metrics computed from a <see cref="ConfusionMatrix"/>, matching
/// scikit-learn's <c>precision_recall_fscore_support(labels=range(C), zero_division=0)</c>,
/// <c>accuracy_score</c> and <c>balanced_accuracy_score</c>.
/// </summary>
/// <remarks>
/// <para>Zero division: any ratio whose denominator is 0 is 0 (precision of a never-predicted class, recall of a class
/// without support, F1 when precision + recall = 0, every metric of an empty matrix).</para>
/// <para>Absent classes (no true and no predicted sample, <see cref="ClassMetrics.IsAbsent"/>): the scikit-learn
/// macro averages (<see cref="MacroPrecision"/>, <see cref="MacroRecall"/>, <see cref="MacroF1"/>) divide by all C classes,
/// so an absent class counts as 0 and pulls the average down. <see cref="MacroF1Present"/> and its siblings average
/// only over the classes that are not absent. Weighted averages weight by support, so absent classes never matter.</para>
/// <para><see cref="BalancedAccuracy"/> is the mean recall over classes with support &gt; 0 (as scikit-learn, which
/// drops classes that occur only in the predictions).</para>
/// <para>F1 per class uses <c>2PR / (P + R)</c> from the zero-division-adjusted P and R, as scikit-learn 1.2 does.</para>
/// </remarks>
public sealed class ClassificationReport
{
    private ClassificationReport(IReadOnlyList<ClassMetrics> classes) => Classes = classes;

    /// <summary>Per-class metrics, indexed by class.</summary>
    public IReadOnlyList<ClassMetrics> Classes { get; }

    /// <summary>All samples, including rows counted as wrong because of NaN logits.</summary>
    public long Total { get; private init; }

    /// <summary>Rows counted as wrong because their logits held NaN (<see cref="NanPolicy.CountAsWrong"/>).</summary>
    public long InvalidTotal { get; private init; }

    /// <summary>Correct predictions / <see cref="Total"/>; 0 for an empty matrix.</summary>
    public double Accuracy { get; private init; }

    /// <summary>Mean recall over classes with support &gt; 0; 0 when there is none.</summary>
    public double BalancedAccuracy { get; private init; }

    /// <summary>Mean precision over all C classes (absent classes count as 0).</summary>
    public double MacroPrecision { get; private init; }

    /// <summary>Mean recall over all C classes (absent classes count as 0).</summary>
    public double MacroRecall { get; private init; }

    /// <summary>Mean F1 over all C classes (absent classes count as 0): scikit-learn's <c>average='macro'</c> with <c>labels=range(C)</c>.</summary>
    public double MacroF1 { get; private init; }

    /// <summary>Mean precision over classes that are not absent.</summary>
    public double MacroPrecisionPresent { get; private init; }

    /// <summary>Mean recall over classes that are not absent.</summary>
    public double MacroRecallPresent { get; private init; }

    /// <summary>Mean F1 over classes that are not absent (scikit-learn's default when labels are inferred from the data).</summary>
    public double MacroF1Present { get; private init; }

    /// <summary>Total TP / total predicted (equals <see cref="Accuracy"/> unless NaN rows were counted as wrong).</summary>
    public double MicroPrecision { get; private init; }

    /// <summary>Total TP / <see cref="Total"/>.</summary>
    public double MicroRecall { get; private init; }

    /// <summary>Harmonic mean of <see cref="MicroPrecision"/> and <see cref="MicroRecall"/>.</summary>
    public double MicroF1 { get; private init; }

    /// <summary>Support-weighted mean precision; 0 when there is no support.</summary>
    public double WeightedPrecision { get; private init; }

    /// <summary>Support-weighted mean recall; 0 when there is no support.</summary>
    public double WeightedRecall { get; private init; }

    /// <summary>Support-weighted mean F1; 0 when there is no support.</summary>
    public double WeightedF1 { get; private init; }

    /// <summary>Computes the report. <paramref name="classNames"/>, when given, must hold exactly C names.</summary>
    /// <exception cref="ArgumentException">The number of names differs from the class count.</exception>
    public static ClassificationReport Create(ConfusionMatrix matrix, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        int C = matrix.Classes;
        if (classNames is not null && classNames.Count != C)
            throw new ArgumentException($"{classNames.Count} class names given for {C} classes", nameof(classNames));
        var counts = matrix.Counts;
        var support = new long[C];
        var predicted = new long[C];
        for (int t = 0; t < C; t++)
        {
            for (int p = 0; p < C; p++)
            {
                long v = counts[t * C + p];
                support[t] += v;
                predicted[p] += v;
            }
            support[t] += matrix.InvalidCounts[t];
        }
        var classes = new ClassMetrics[C];
        long total = 0, tpTotal = 0, predictedTotal = 0;
        for (int c = 0; c < C; c++)
        {
            long tp = counts[c * C + c];
            double precision = Ratio(tp, predicted[c]);
            double recall = Ratio(tp, support[c]);
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            classes[c] = new ClassMetrics(c, classNames?[c] ?? c.ToString(System.Globalization.CultureInfo.InvariantCulture),
                precision, recall, f1, support[c], predicted[c], tp, support[c] == 0 && predicted[c] == 0);
            total += support[c];
            tpTotal += tp;
            predictedTotal += predicted[c];
        }

        double Mean(Func<ClassMetrics, double> f, bool presentOnly)
        {
            double s = 0; int k = 0;
            foreach (var m in classes)
            {
                if (presentOnly && m.IsAbsent) continue;
                s += f(m); k++;
            }
            return k == 0 ? 0 : s / k;
        }
        double Weighted(Func<ClassMetrics, double> f)
        {
            double s = 0;
            foreach (var m in classes) s += f(m) * m.Support;
            return total == 0 ? 0 : s / total;
        }

        double microP = Ratio(tpTotal, predictedTotal), microR = Ratio(tpTotal, total);
        double bal = 0; int withSupport = 0;
        foreach (var m in classes)
        {
            if (m.Support > 0) { bal += m.Recall; withSupport++; }
        }
        return new ClassificationReport(classes)
        {
            Total = total,
            InvalidTotal = matrix.InvalidTotal,
            Accuracy = Ratio(tpTotal, total),
            BalancedAccuracy = withSupport == 0 ? 0 : bal / withSupport,
            MacroPrecision = Mean(m => m.Precision, false),
            MacroRecall = Mean(m => m.Recall, false),
            MacroF1 = Mean(m => m.F1, false),
            MacroPrecisionPresent = Mean(m => m.Precision, true),
            MacroRecallPresent = Mean(m => m.Recall, true),
            MacroF1Present = Mean(m => m.F1, true),
            MicroPrecision = microP,
            MicroRecall = microR,
            MicroF1 = microP + microR == 0 ? 0 : 2 * microP * microR / (microP + microR),
            WeightedPrecision = Weighted(m => m.Precision),
            WeightedRecall = Weighted(m => m.Recall),
            WeightedF1 = Weighted(m => m.F1),
        };
    }

    private static double Ratio(long a, long b) => b == 0 ? 0 : (double)a / b;

    /// <summary>Mean F1 of <paramref name="classes"/> (e.g. the minority classes, <see cref="Data.MinorityClasses"/>).</summary>
    /// <exception cref="ArgumentException">No class given, or a class outside <c>[0, C)</c>.</exception>
    public double MeanF1(IReadOnlyList<int> classes)
    {
        ArgumentNullException.ThrowIfNull(classes);
        if (classes.Count == 0) throw new ArgumentException("the mean F1 of no class is undefined", nameof(classes));
        double sum = 0;
        foreach (var c in classes)
        {
            if ((uint)c >= (uint)Classes.Count) throw new ArgumentException($"class {c} is outside [0, {Classes.Count})", nameof(classes));
            sum += Classes[c].F1;
        }
        return sum / classes.Count;
    }

    /// <summary>
    /// The report as indented JSON: <c>total</c>, <c>invalid</c>, <c>accuracy</c>, <c>balanced_accuracy</c>, the averages
    /// (<c>macro</c>, <c>macro_present</c>, <c>micro</c>, <c>weighted</c>, each with precision / recall / f1) and a
    /// <c>classes</c> array (index, name, precision, recall, f1, support, predicted, true_positives, absent).
    /// Doubles are written in shortest round-trip form.
    /// </summary>
    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("total", Total);
            w.WriteNumber("invalid", InvalidTotal);
            w.WriteNumber("accuracy", Accuracy);
            w.WriteNumber("balanced_accuracy", BalancedAccuracy);
            WriteAvg(w, "macro", MacroPrecision, MacroRecall, MacroF1);
            WriteAvg(w, "macro_present", MacroPrecisionPresent, MacroRecallPresent, MacroF1Present);
            WriteAvg(w, "micro", MicroPrecision, MicroRecall, MicroF1);
            WriteAvg(w, "weighted", WeightedPrecision, WeightedRecall, WeightedF1);
            w.WriteStartArray("classes");
            foreach (var c in Classes)
            {
                w.WriteStartObject();
                w.WriteNumber("index", c.Index);
                w.WriteString("name", c.Name);
                w.WriteNumber("precision", c.Precision);
                w.WriteNumber("recall", c.Recall);
                w.WriteNumber("f1", c.F1);
                w.WriteNumber("support", c.Support);
                w.WriteNumber("predicted", c.Predicted);
                w.WriteNumber("true_positives", c.TruePositives);
                w.WriteBoolean("absent", c.IsAbsent);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static void WriteAvg(Utf8JsonWriter w, string name, double p, double r, double f)
    {
        w.WriteStartObject(name);
        w.WriteNumber("precision", p);
        w.WriteNumber("recall", r);
        w.WriteNumber("f1", f);
        w.WriteEndObject();
    }
}
