using System.Text.Json;
using Acwa.Onnx.IO;
using Acwa.Onnx.Metrics;

namespace Acwa.Onnx.Tests.Metrics;

/// <summary>Compares against scikit-learn values written by tools/make_metrics_fixtures.py.</summary>
public class GoldenReportTests
{
    internal static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "metrics", name);

    [Theory]
    [InlineData("basic")]
    [InlineData("absent")]
    [InlineData("ties")]
    [InlineData("imbalanced")]
    public void ReportMatchesScikitLearn(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixture($"{name}_expected.json")));
        var e = doc.RootElement;
        int C = e.GetProperty("classes").GetInt32();
        var labels = NpyFile.Read(Fixture($"{name}_labels.npy")).ToInt32Array();
        var preds = NpyFile.Read(Fixture($"{name}_preds.npy")).ToInt64Array();
        var m = new ConfusionMatrix(C);
        m.Accumulate(labels.Select(v => (long)v).ToArray(), preds);

        var logitsPath = Fixture($"{name}_logits.npy");
        if (File.Exists(logitsPath))
        {
            var logits = NpyFile.Read(logitsPath);
            Assert.Equal([labels.Length, (long)C], logits.Shape);
            var fromLogits = new ConfusionMatrix(C);
            fromLogits.AccumulateLogits(labels, logits.ToSingleArray());
            Assert.Equal(m.Counts.ToArray(), fromLogits.Counts.ToArray());
        }

        var confusion = e.GetProperty("confusion").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetInt64())).ToArray();
        Assert.Equal(confusion, m.Counts.ToArray());

        var r = ClassificationReport.Create(m);
        const double tol = 1e-12;
        double[] P = Doubles(e, "precision"), R = Doubles(e, "recall"), F = Doubles(e, "f1");
        long[] S = e.GetProperty("support").EnumerateArray().Select(v => v.GetInt64()).ToArray();
        for (int c = 0; c < C; c++)
        {
            Assert.Equal(P[c], r.Classes[c].Precision, tol);
            Assert.Equal(R[c], r.Classes[c].Recall, tol);
            Assert.Equal(F[c], r.Classes[c].F1, tol);
            Assert.Equal(S[c], r.Classes[c].Support);
        }
        Assert.Equal(e.GetProperty("accuracy").GetDouble(), r.Accuracy, tol);
        Assert.Equal(e.GetProperty("balanced_accuracy").GetDouble(), r.BalancedAccuracy, tol);
        AssertAvg(e, "macro", r.MacroPrecision, r.MacroRecall, r.MacroF1);
        AssertAvg(e, "micro", r.MicroPrecision, r.MicroRecall, r.MicroF1);
        AssertAvg(e, "weighted", r.WeightedPrecision, r.WeightedRecall, r.WeightedF1);
        AssertAvg(e, "macro_present", r.MacroPrecisionPresent, r.MacroRecallPresent, r.MacroF1Present);
    }

    [Fact]
    public void AbsentAndZeroDivisionClassesAreFlaggedAndZero()
    {
        var m = new ConfusionMatrix(6);
        m.Accumulate(NpyFile.Read(Fixture("absent_labels.npy")).ToInt32Array(), NpyFile.Read(Fixture("absent_preds.npy")).ToInt32Array());
        var r = ClassificationReport.Create(m, ["a", "b", "c", "d", "e", "f"]);
        Assert.True(r.Classes[4].IsAbsent);
        Assert.Equal(0, r.Classes[4].F1);
        Assert.False(r.Classes[5].IsAbsent);           // predicted only: recall 0/0 -> 0
        Assert.Equal(0, r.Classes[5].Recall);
        Assert.Equal(0, r.Classes[3].Precision);       // never predicted: precision 0/0 -> 0
        Assert.Equal("e", r.Classes[4].Name);
        Assert.True(r.MacroF1Present > r.MacroF1);
        Assert.Equal(r.Classes.Where(c => !c.IsAbsent).Average(c => c.F1), r.MacroF1Present, 1e-15);

        using var json = JsonDocument.Parse(r.ToJson());
        Assert.Equal(r.MacroF1, json.RootElement.GetProperty("macro").GetProperty("f1").GetDouble());
        Assert.True(json.RootElement.GetProperty("classes")[4].GetProperty("absent").GetBoolean());
        Assert.Equal("f", json.RootElement.GetProperty("classes")[5].GetProperty("name").GetString());
        Assert.Throws<ArgumentException>(() => ClassificationReport.Create(m, ["a"]));
    }

    [Fact]
    public void EmptyMatrixGivesZerosNotNaN()
    {
        var r = ClassificationReport.Create(new ConfusionMatrix(3));
        Assert.All(r.Classes, c => Assert.True(c.IsAbsent));
        double[] all = [r.Accuracy, r.BalancedAccuracy, r.MacroF1, r.MacroF1Present, r.MicroF1, r.WeightedF1, r.MacroPrecision, r.MacroRecall];
        Assert.All(all, v => Assert.Equal(0, v));
    }

    private static double[] Doubles(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static void AssertAvg(JsonElement e, string name, double p, double r, double f)
    {
        var a = e.GetProperty(name);
        Assert.Equal(a.GetProperty("precision").GetDouble(), p, 1e-12);
        Assert.Equal(a.GetProperty("recall").GetDouble(), r, 1e-12);
        Assert.Equal(a.GetProperty("f1").GetDouble(), f, 1e-12);
    }
}
