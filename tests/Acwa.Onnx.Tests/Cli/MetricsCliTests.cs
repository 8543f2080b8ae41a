using System.CommandLine;
using System.Text.Json;
using Acwa.Cli;
using Acwa.Cli.Commands;
using Acwa.Onnx.Metrics;
using Acwa.Onnx.Tests.Metrics;

namespace Acwa.Onnx.Tests.Cli;

public sealed class MetricsCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("acwa-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Fx(string name) => GoldenReportTests.Fixture(name);

    private static (int Code, string Out, string Err) Invoke(params string[] args) => Acwa.Onnx.Tests.Cli.CliRun.Invoke(args);

    [Fact]
    public void HelpListsMetricsAndBenchMetrics()
    {
        var (code, output, _) = Invoke("--help");
        Assert.Equal(0, code);
        Assert.Contains("metrics", output);
        Assert.Contains("bench", output);
        (code, output, _) = Invoke("bench", "--help");
        Assert.Equal(0, code);
        Assert.Contains("metrics", output);
        (code, output, _) = Invoke("metrics", "--help");
        Assert.Contains("--labels", output);
        Assert.Contains("--nan-policy", output);
    }

    [Fact]
    public void ParsesOptionsIntoTheOptionsRecordAndRejectsBadCombinations()
    {
        var cmd = MetricsCommand.Create();
        var r = cmd.Parse(["--labels", "y.npy", "--predictions", "p.csv", "--classes", "4", "--names", "a, b,c,d", "--nan-policy", "CountAsWrong"]);
        Assert.Empty(r.Errors);
        Assert.Equal(0, Invoke("metrics", "--labels", Fx("absent_labels.npy"), "--predictions", Fx("absent_preds.npy")).Code);
        Assert.NotEqual(0, Invoke("metrics", "--labels", "y.npy").Code);                                            // neither
        Assert.NotEqual(0, Invoke("metrics", "--labels", "y.npy", "--logits", "z.npy", "--predictions", "p.npy").Code); // both
        Assert.NotEqual(0, Invoke("metrics", "--predictions", "p.npy").Code);                                      // no labels
    }

    [Fact]
    public void RunsEndToEndOnFixturesAndWritesJsonMatchingScikitLearn()
    {
        var json = Path.Combine(_dir, "out", "report.json");
        var (code, output, err) = Invoke("metrics", "--labels", Fx("absent_labels.npy"), "--predictions", Fx("absent_preds.npy"),
            "--names", "a,b,c,d,e,f", "--json", json);
        Assert.True(code == 0, err);
        Assert.Contains("e (absent)", output);
        Assert.Contains("macro (present classes)", output);
        Assert.Contains("balanced accuracy 0.4375", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        using var exp = JsonDocument.Parse(File.ReadAllText(Fx("absent_expected.json")));
        Assert.Equal(exp.RootElement.GetProperty("macro").GetProperty("f1").GetDouble(),
            doc.RootElement.GetProperty("macro").GetProperty("f1").GetDouble(), 1e-12);
        Assert.Equal(6, doc.RootElement.GetProperty("classes").GetArrayLength());

        (code, output, err) = Invoke("metrics", "--labels", Fx("basic_labels.npy"), "--logits", Fx("basic_logits.npy"));
        Assert.True(code == 0, err);
        using var basic = JsonDocument.Parse(File.ReadAllText(Fx("basic_expected.json")));
        Assert.Contains($"accuracy {basic.RootElement.GetProperty("accuracy").GetDouble():0.0000}", output);
    }

    [Fact]
    public void CsvInputsAndNamesFileWork()
    {
        File.WriteAllText(Path.Combine(_dir, "y.csv"), "y\n0\n1\n2\n1\n");
        File.WriteAllText(Path.Combine(_dir, "z.csv"), "3,1,0\n0,2,2\n0,0,nan\n1,5,0\n");
        File.WriteAllText(Path.Combine(_dir, "names.txt"), "cat\ndog\nbird\n");
        var o = new MetricsOptions(Path.Combine(_dir, "y.csv"), Logits: Path.Combine(_dir, "z.csv"),
            NamesFile: Path.Combine(_dir, "names.txt"), NanPolicy: NanPolicy.CountAsWrong);
        var report = MetricsCommand.Compute(o, out var m);
        Assert.Equal(3, m.Classes);
        Assert.Equal(1, report.InvalidTotal);
        Assert.Equal("bird", report.Classes[2].Name);
        Assert.Equal(0.75, report.Accuracy, 15); // rows 0,1,3 right; row 2 (NaN) counted wrong
        var sw = new StringWriter();
        var err = new StringWriter();
        Assert.Equal(2, MetricsCommand.Run(o with { NanPolicy = NanPolicy.Throw }, sw, err));
        Assert.Contains("row 2 contains NaN", err.ToString());
    }

    [Fact]
    public void BadInputsExitWithCode2AndAOneLineMessage()
    {
        File.WriteAllText(Path.Combine(_dir, "y.csv"), "0\n7\n");
        File.WriteAllText(Path.Combine(_dir, "p.csv"), "0\n1\n");
        var cases = new (string[] Args, string Expect)[]
        {
            (["metrics", "--labels", Path.Combine(_dir, "y.csv"), "--predictions", Path.Combine(_dir, "p.csv"), "--classes", "3"], "y.csv: labels[1] = 7"),
            (["metrics", "--labels", Path.Combine(_dir, "missing.npy"), "--predictions", Path.Combine(_dir, "p.csv")], "missing.npy"),
            (["metrics", "--labels", Fx("basic_labels.npy"), "--predictions", Fx("absent_preds.npy")], "has 14 predictions"),
            (["metrics", "--labels", Fx("basic_labels.npy"), "--logits", Fx("basic_logits.npy"), "--classes", "4"], "--classes is 4"),
            (["metrics", "--labels", Fx("absent_labels.npy"), "--predictions", Fx("absent_preds.npy"), "--names", "a,b"], "2 class names"),
        };
        foreach (var (args, expect) in cases)
        {
            var (code, _, err) = Invoke(args);
            Assert.Equal(2, code);
            Assert.StartsWith("error: ", err);
            Assert.Contains(expect, err);
            Assert.DoesNotContain("   at ", err); // no stack trace
        }
    }

    [Fact]
    public void BenchMetricsRunsOnATinyInputAndWritesItsMeasurementsAsJson()
    {
        var json = Path.Combine(_dir, "bench-metrics.json");
        var (code, output, err) = Invoke("bench", "metrics", "--n", "5000", "--classes", "10", "--repeats", "3", "--threads", "2", "--json", json);
        Assert.True(code == 0, err);
        Assert.Contains("TensorPrimitives.Sum", output);
        Assert.Contains("logits 1 thread / Sum", output);
        Assert.DoesNotContain("target", output, StringComparison.OrdinalIgnoreCase);
        var doc = Acwa.Onnx.Tests.Cli.BenchJsonAssert.Load(json, "acwa bench metrics");
        Assert.Equal(5000, (int)doc["options"]!["n"]!);
        Assert.Equal(2, (int)doc["options"]!["threads"]!);
        var ops = doc["operations"]!.AsArray();
        Assert.Equal(7, ops.Count);
        Assert.StartsWith("TensorPrimitives.Sum", (string?)ops[0]!["name"]);
        Assert.Equal("confusion from logits, 1 thread", (string?)ops[1]!["name"]);
        Assert.Contains(ops, o => (string?)o!["name"] == "confusion from int predictions, 2 threads");
        foreach (var op in ops)
        {
            Assert.Equal(5000, (int)op!["samples"]!);
            double median = Acwa.Onnx.Tests.Cli.BenchJsonAssert.Measured(op["ms"], 3);
            Acwa.Onnx.Tests.Cli.BenchJsonAssert.Ratio(5000 / (median / 1000), (double)op["samples_per_second"]!);
            Assert.Equal(3, op["cpu_ms"]!["values"]!.AsArray().Count);
        }
        // The ratio is taken per repeat, logits kernel over Sum of the same repeat.
        double[] V(int i) => ops[i]!["ms"]!["values"]!.AsArray().Select(v => (double)v!).ToArray();
        var ratios = V(1).Zip(V(0), (a, b) => a / b).ToArray();
        Assert.Equal(ratios, doc["logits_over_sum"]!["values"]!.AsArray().Select(v => (double)v!));
        Assert.Equal(2, Invoke("bench", "metrics", "--n", "0").Code);
    }
}
