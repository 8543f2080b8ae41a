using System.Globalization;
using System.Text.Json.Nodes;
using Acwa.Cli;
using Acwa.Cli.Training;
using Acwa.Onnx.IO;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Training.Compiler;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>
/// <c>acwa reproduce</c> end to end on a small learnable dataset in the real IDX format: folder layout, results.md numbers
/// recomputed from the runs' own test reports, a second invocation that redoes nothing, and bad method names.
/// </summary>
public sealed class ReproduceTests : IDisposable
{
    private readonly TempDir _dir = new();

    private string Dataset() => LearnableIdxDataset.Write(_dir);

    private static string Pct(IReadOnlyList<double> v)
    {
        double mean = v.Average();
        double std = Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Count - 1));
        return string.Create(CultureInfo.InvariantCulture, $"{100 * mean:F2} ± {100 * std:F2}");
    }

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void RunsEveryMethodAndSeedReportsFromTheRunsAndSecondInvocationRedoesNothing()
    {
        var outDir = _dir.File("repro");
        string[] methods = ["ce", "cb", "acwa"];
        var o = new ReproduceOptions { Dataset = Dataset(), Model = "mlp", Epochs = 2, Seeds = 2, Batch = 32, Methods = string.Join(",", methods), OutDir = outDir, Threads = 1 };
        var log = new StringWriter();
        ReproduceRun.Run(o, log);
        var text = log.ToString();

        // Layout: one run folder per (method, seed), the report files, the per-method plots.
        foreach (var f in new[] { "results.md", "results.json", "macro_f1.png" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), $"output lacks {f}");
        foreach (var m in methods)
        {
            foreach (var f in new[] { "mean_weights.png", "mean_val_f1.png" })
                Assert.True(File.Exists(Path.Combine(outDir, m, f)), $"{m} lacks {f}");
            for (int s = 0; s < 2; s++)
                foreach (var f in new[] { "checkpoint.acwa", "test_report.json", "metrics.json", "config.json" })
                    Assert.True(File.Exists(Path.Combine(outDir, m, $"seed{s}", f)), $"{m}/seed{s} lacks {f}");
            Assert.False(Directory.Exists(Path.Combine(outDir, m, "seed2")));
            // Quiet progress: one line per epoch per run, prefixed with method and seed.
            Assert.Contains($"{m} seed1 epoch 2/2: loss", text, StringComparison.Ordinal);
            Assert.Contains($"{m} seed0: trained; test macro-F1", text, StringComparison.Ordinal);
        }
        Assert.Equal(methods.Length * 2 * 2, text.Split('\n').Count(l => l.Contains(" epoch ", StringComparison.Ordinal) && l.Contains("val macro-F1", StringComparison.Ordinal)));
        Assert.DoesNotContain("precision", text, StringComparison.Ordinal); // the per-run tables are not printed

        // results.md: a row per method whose numbers are mean ± sample std of the runs' own test reports.
        var md = File.ReadAllLines(Path.Combine(outDir, "results.md"));
        foreach (var m in methods)
        {
            var reports = Enumerable.Range(0, 2).Select(s => JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, m, $"seed{s}", "test_report.json")))!).ToList();
            var macro = reports.Select(r => r["macro"]!["f1"]!.GetValue<double>()).ToList();
            var bal = reports.Select(r => r["balanced_accuracy"]!.GetValue<double>()).ToList();
            var minority = reports.Select(r => r["classes"]!.AsArray().Skip(5).Average(c => c!["f1"]!.GetValue<double>())).ToList();
            var row = Assert.Single(md, l => l.StartsWith($"| {m} |", StringComparison.Ordinal) && l.Contains('±'));
            Assert.Contains($"| {Pct(macro)} | {Pct(minority)} | {Pct(bal)} |", row, StringComparison.Ordinal);
            Assert.True(macro.Min() > 0.5, $"{m}: macro-F1 {string.Join(", ", macro)} is not far above chance on a learnable task");
        }
        Assert.Contains(md, l => l.StartsWith("| acwa |", StringComparison.Ordinal) && l.EndsWith("| 87.5 | 73.8 |", StringComparison.Ordinal));
        Assert.Contains(md, l => l.Contains("no Fashion-MNIST numbers", StringComparison.Ordinal));
        Assert.Contains(md, l => l.StartsWith("- **acwa**", StringComparison.Ordinal) && l.Contains("vs CE", StringComparison.Ordinal));
        Assert.Contains("| ce |", log.ToString(), StringComparison.Ordinal); // the table is printed at the end
        // Paired differences against the best baseline run (ce or cb), with intervals, in results.md, results.json and a plot.
        Assert.Contains(md, l => l.StartsWith("## Paired differences against ", StringComparison.Ordinal));
        Assert.Contains(md, l => l.StartsWith("| acwa | ce | `acwa` | ", StringComparison.Ordinal) && l.Contains(" [", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(outDir, "paired_differences.png")));

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")))!;
        Assert.Equal(methods, json["methods"]!.AsArray().Select(m => m!["name"]!.GetValue<string>()));
        Assert.Equal(2, json["methods"]![0]!["runs"]!.AsArray().Count);
        // Each method says whether it is a static baseline (what the verdict and tools/issue25_select.py read).
        Assert.Equal(methods.Select(m => m is "ce" or "cb"), json["methods"]!.AsArray().Select(m => m!["baseline"]!.GetValue<bool>()));
        var paired = json["paired"]!;
        Assert.Contains(paired["reference"]!.GetValue<string>(), new[] { "ce", "cb" });
        var acwaPaired = paired["methods"]!.AsArray().Single(m => m!["name"]!.GetValue<string>() == "acwa")!;
        var acwaRuns = Enumerable.Range(0, 2).Select(s => JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "acwa", $"seed{s}", "test_report.json")))!["macro"]!["f1"]!.GetValue<double>()).ToList();
        var refRuns = Enumerable.Range(0, 2).Select(s => JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, paired["reference"]!.GetValue<string>(), $"seed{s}", "test_report.json")))!["macro"]!["f1"]!.GetValue<double>()).ToList();
        Assert.Equal((acwaRuns[0] - refRuns[0] + acwaRuns[1] - refRuns[1]) / 2, acwaPaired["macro_f1"]!["mean"]!.GetValue<double>(), 12);

        // A second invocation re-evaluates the finished runs: no epoch is trained, no checkpoint (run or artifacts) changes.
        var checkpoints = Directory.GetFiles(outDir, "*.acwa", SearchOption.AllDirectories).ToDictionary(p => p, File.ReadAllBytes);
        var stamps = checkpoints.Keys.ToDictionary(p => p, File.GetLastWriteTimeUtc);
        Assert.Equal(12, checkpoints.Count); // per run: seedN/checkpoint.acwa and the initial state seedN/artifacts/checkpoint.acwa
        var log2 = new StringWriter();
        // Nothing is retrained: no epoch lines, and every checkpoint keeps its bytes and time stamp (no timing assertion:
        // this machine's speed varies too much for one).
        ReproduceRun.Run(o, log2);
        foreach (var (p, bytes) in checkpoints)
        {
            Assert.Equal(bytes, File.ReadAllBytes(p));
            Assert.Equal(stamps[p], File.GetLastWriteTimeUtc(p));
        }
        Assert.DoesNotContain("val macro-F1", log2.ToString(), StringComparison.Ordinal);
        Assert.Equal(6, log2.ToString().Split('\n').Count(l => l.Contains(": already finished, re-evaluated;", StringComparison.Ordinal)));
        Assert.Equal(md, File.ReadAllLines(Path.Combine(outDir, "results.md")));

        // The same folders with another model or learning rate are refused before anything is touched.
        var err = new StringWriter();
        Assert.Equal(2, ReproduceRun.Execute(o with { LearningRate = 0.01 }, new StringWriter(), err));
        Assert.Contains("ce", err.ToString(), StringComparison.Ordinal);
        Assert.Contains("holds a run with lr 0.001, this invocation asks for 0.01", err.ToString(), StringComparison.Ordinal);
        foreach (var (p, bytes) in checkpoints) Assert.Equal(bytes, File.ReadAllBytes(p));
    }

    [Theory]
    [InlineData("ce,magic", "unknown method 'magic' in --methods; valid methods: ce, focal, cb, ldam-drw, acwa, acwa-beta0, acwa-noclip, acwa-alpha0.1, acwa-centered, acwa-mult, acwa-prior, la, la-drw, cdb, acwa-wilson, ldam-drw-prior, ldam-drw-wilson, la-drw-wilson")]
    [InlineData("ce,,cb", "has an empty entry")]
    public void BadMethodListGivesClearErrorListingValidNames(string methods, string expected)
    {
        var (rc, _, err) = CliRun.Invoke("reproduce", "--dataset", Dataset(), "--methods", methods, "--out", _dir.File("bad"));
        Assert.Equal(2, rc);
        Assert.Contains(expected, err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.File("bad")), "nothing is written for a bad method list");
    }

    [Fact]
    public void MethodsMapToTheDocumentedLossAndPolicy()
    {
        var all = ReproduceMethod.Select(null);
        Assert.Equal(18, all.Count);
        Assert.Equal(["ce", "focal", "cb", "ldam-drw", "la", "la-drw"], all.Where(m => m.IsBaseline).Select(m => m.Name));
        var laDrw = o0().RunOptions(ReproduceMethod.Select("la-drw")[0], 0, "out");
        Assert.Equal((LossKind.LogitAdjusted, "drw:at=0.8,then=[cb:beta=0.9999]"), (laDrw.Loss, laDrw.Policy));
        static ReproduceOptions o0() => new();
        var o = new ReproduceOptions { Epochs = 7, Seeds = 3 };
        var ldam = o.RunOptions(ReproduceMethod.Select("LDAM-DRW")[0], 2, "out");
        Assert.Equal((LossKind.Ldam, "drw:at=0.8,then=[cb:beta=0.9999]", 2UL, true), (ldam.Loss, ldam.Policy, ldam.Seed, ldam.Resume));
        Assert.Equal(Path.Combine("out", "ldam-drw", "seed2"), ldam.OutDir);
        Assert.Equal((OptimizerKind.Adam, 1e-3, 128, 7), (ldam.Optimizer, ldam.LearningRate, ldam.Batch, ldam.Epochs));
        Assert.Equal(["focal", "cb"], ReproduceMethod.Select(" focal , cb,focal").Select(m => m.Name));
        // Every policy spec is valid for the factory.
        foreach (var m in all) Onnx.Weighting.PolicyFactory.Create(m.Policy, [100, 10], 10);
    }

    [Fact]
    public void ExtraMethodsParseRunAfterTheBuiltInOnesAndCountAsTheirKind()
    {
        var wilson = ReproduceMethod.ParseExtra("wilson-eta2=ce/acwa-wilson:eta=2,z=1", baseline: false);
        Assert.Equal(("wilson-eta2", "ce", "acwa-wilson:eta=2,z=1", false), (wilson.Name, wilson.Loss, wilson.Policy, wilson.IsBaseline));
        var cb = ReproduceMethod.ParseExtra("cb-0.999=CE/cb:beta=0.999", baseline: true);
        Assert.True(cb.IsBaseline);
        Assert.Equal("ce", cb.Loss);
        Assert.Equal(["ce", "cb-0.999", "wilson-eta2"], ReproduceMethod.Select("ce", [cb, wilson]).Select(m => m.Name));
        Assert.Equal(["wilson-eta2"], ReproduceMethod.Select(null, [wilson]).Select(m => m.Name));
        var o = new ReproduceOptions { Epochs = 7 }.RunOptions(wilson, 1, "out");
        Assert.Equal((LossKind.CrossEntropy, "acwa-wilson:eta=2,z=1"), (o.Loss, o.Policy));
        Assert.Equal(Path.Combine("out", "wilson-eta2", "seed1"), o.OutDir);
        // A tuning grid's baseline with a loss hyper-parameter: the loss spec reaches the run's options.
        var focal1 = new ReproduceOptions().RunOptions(ReproduceMethod.ParseExtra("focal-g1=focal:gamma=1/uniform", baseline: true), 0, "out");
        Assert.Equal((LossKind.Focal, 1.0), (focal1.Loss, focal1.LossSettings.FocalGamma));
        Assert.Equal("focal:gamma=1", focal1.ToJson()["loss"]!.GetValue<string>());
        Assert.Equal((OptimizerKind.Adam, 1e-3), (focal1.Optimizer, focal1.LearningRate)); // reproduce's own by default
        // ... and its own optimizer and learning rate (LDAM-DRW as usually run, with SGD).
        var sgd = new ReproduceOptions().RunOptions(ReproduceMethod.ParseExtra("ldam-drw-sgd=ldam/drw:at=0.8,then=[cb:beta=0.9999]/sgd:lr=0.01", baseline: true), 0, "out");
        Assert.Equal((LossKind.Ldam, OptimizerKind.Sgd, 0.01, 0.9), (sgd.Loss, sgd.Optimizer, sgd.LearningRate, sgd.Momentum));
        Assert.Equal("drw:at=0.8,then=[cb:beta=0.9999]", sgd.Policy);
        Assert.Equal(OptimizerKind.AdamW, new ReproduceOptions().RunOptions(ReproduceMethod.ParseExtra("x=ce/uniform/adamw", false), 0, "out").Optimizer);
        // The adaptive logit adjustment moves the offsets of the la loss: accepted with it, refused with any other loss.
        var laRecall = new ReproduceOptions().RunOptions(ReproduceMethod.ParseExtra("la-rec=la/la-recall:eta=2", false), 0, "out");
        Assert.Equal((LossKind.LogitAdjusted, "la-recall:eta=2"), (laRecall.Loss, laRecall.Policy));
        foreach (var (text, expected) in new[]
        {
            ("wilson", "is not NAME=LOSS/POLICY"), ("Wilson=ce/cb", "must be lower-case"), ("cb=ce/cb", "is a built-in method"),
            ("x=hinge/cb", "unknown loss 'hinge'"), ("x=ce/cb:beta=2", "'beta'"), ("x=focal:tau=1/uniform", "unknown key 'tau'"), ("x=ce/uniform/rmsprop", "unknown optimizer 'rmsprop'"),
            ("x=ce/uniform/sgd:lr=-1", "with a positive LR"), ("x=ce/la-recall", "it needs the loss la, not 'ce'"), ("x=ce/uniform/sgd/extra", "is not NAME=LOSS/POLICY"),
        })
            Assert.Contains(expected, Assert.Throws<ArgumentException>(() => ReproduceMethod.ParseExtra(text, false)).Message, StringComparison.Ordinal);
        Assert.Contains("two methods are called", Assert.Throws<ArgumentException>(() => ReproduceMethod.Select(null, [wilson, wilson])).Message, StringComparison.Ordinal);
        // From the command line: a bad extra method is refused before anything is written.
        var (rc, _, err) = CliRun.Invoke("reproduce", "--dataset", Dataset(), "--extra-method", "x=ce/nope", "--out", _dir.File("bad-extra"));
        Assert.Equal(2, rc);
        Assert.Contains("Unknown class-weight policy 'nope'", err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.File("bad-extra")));
    }

    [Fact]
    public void VerdictCallsDifferencesBelowTheLargerStdNoise()
    {
        static ReproduceRunResult R(int seed, double f1) => new(seed, "", "", 0, f1, f1, f1, ["a", "b"], [f1, f1], [1, 1], [], [], []);
        var ce = ReproduceMethod.Select("ce")[0];
        var cb = ReproduceMethod.Select("cb")[0];
        var acwa = ReproduceMethod.Select("acwa")[0];
        var mult = ReproduceMethod.Select("acwa-mult")[0];
        var lines = ReproduceReport.Verdict(
        [
            (ce, [R(0, 0.78), R(1, 0.82)]),   // 80.00 ± 2.83
            (cb, [R(0, 0.85), R(1, 0.85)]),   // 85.00 ± 0
            (acwa, [R(0, 0.79), R(1, 0.83)]), // 81.00 ± 2.83: +1 vs CE within noise; -4 vs cb beyond the spread
            (mult, [R(0, 0.90), R(1, 0.90)]), // 90.00 ± 0: +10 vs CE, +5 vs cb
        ]);
        var a = Assert.Single(lines, l => l.StartsWith("- **acwa**", StringComparison.Ordinal));
        Assert.Contains("vs CE (80.00 ± 2.83): +1.00 points, within noise (larger std 2.83)", a, StringComparison.Ordinal);
        Assert.Contains("vs the best baseline, cb (85.00 ± 0.00): -4.00 points, worse by more than the seed spread", a, StringComparison.Ordinal);
        var m = Assert.Single(lines, l => l.StartsWith("- **acwa-mult**", StringComparison.Ordinal));
        Assert.Contains("+10.00 points, better by more than the seed spread", m, StringComparison.Ordinal);
        Assert.Contains("+5.00 points, better", m, StringComparison.Ordinal);
    }

    [Fact]
    public void ExtraMethodMayAskForTrainingFeedbackAfterItsOptimizerPart()
    {
        var plain = ReproduceMethod.ParseExtra("wilson=ce/acwa-wilson", false);
        Assert.Equal(Onnx.Weighting.FeedbackSource.Validation, plain.Feedback);
        Assert.Equal(Onnx.Weighting.FeedbackSource.Validation, new ReproduceOptions().RunOptions(plain, 0, "out").Feedback);
        var tr = ReproduceMethod.ParseExtra("wilson-tr=ce/acwa-wilson/feedback=training", false);
        Assert.Equal((Onnx.Weighting.FeedbackSource.Training, null, null), (tr.Feedback, tr.Optimizer, tr.LearningRate));
        var o = new ReproduceOptions().RunOptions(tr, 2, "out");
        Assert.Equal(Onnx.Weighting.FeedbackSource.Training, o.Feedback);
        Assert.Equal("training", o.ToJson()["feedback"]!.GetValue<string>());
        Assert.Equal(Path.Combine("out", "wilson-tr", "seed2"), o.OutDir); // the run folder is still OUT/NAME/seedN
        var both = ReproduceMethod.ParseExtra("x=la/drw:at=0.8,then=[acwa-wilson:prior=uniform]/adam:lr=0.001/feedback=training", true);
        Assert.Equal(("la", "drw:at=0.8,then=[acwa-wilson:prior=uniform]", "adam", 0.001, Onnx.Weighting.FeedbackSource.Training),
            (both.Loss, both.Policy, both.Optimizer, both.LearningRate, both.Feedback));
        Assert.Equal(Onnx.Weighting.FeedbackSource.Validation, ReproduceMethod.ParseExtra("x=ce/uniform/sgd/Feedback=Validation", false).Feedback);
        foreach (var (text, expected) in new[]
        {
            ("x=ce/uniform/feedback=test", "the feedback part 'feedback=test' is not feedback=training or feedback=validation"),
            ("x=ce/uniform/feedback", "the feedback part 'feedback' is not"),
            ("x=ce/uniform/feedback=training/adam", "the part 'adam' comes after the feedback part"),
            ("x=ce/uniform/feedback=training/feedback=validation", "the part 'feedback=validation' gives the feedback source a second time"),
            ("x=ce/uniform/sgd/adam", "the part 'adam' is neither feedback=training nor a first optimizer part"),
            ("x=ce/uniform/sgd/feedback=training/x", "is not NAME=LOSS/POLICY[/OPTIMIZER[:lr=LR]][/feedback=training]"),
        })
            Assert.Contains(expected, Assert.Throws<ArgumentException>(() => ReproduceMethod.ParseExtra(text, false)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TrainingFeedbackMethodIsRecordedInResultsAndRunsFinishedBeforeTheOptionAreStillFound()
    {
        var outDir = _dir.File("feedback");
        var o = new ReproduceOptions
        {
            Dataset = Dataset(), Model = "mlp", Epochs = 1, Seeds = 1, Batch = 32, Methods = "acwa", OutDir = outDir, Threads = 1,
            ExtraMethods = ["acwa-tr=ce/acwa/feedback=training"],
        };
        ReproduceRun.Run(o, new StringWriter());
        var methods = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")))!["methods"]!.AsArray();
        Assert.Equal(["validation", "training"], methods.Select(m => m!["feedback"]!.GetValue<string>()));
        Assert.Equal("training", JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "acwa-tr", "seed0", "config.json")))!["feedback"]!.GetValue<string>());
        Assert.Equal("training", TensorFile.LoadMeta(Path.Combine(outDir, "acwa-tr", "seed0", "checkpoint.acwa"))["extra"]!["trainer"]!["feedback"]!.GetValue<string>());

        // acwa's run as written before the option existed: no feedback in config.json nor in the checkpoint.
        var run = Path.Combine(outDir, "acwa", "seed0");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "config.json")))!.AsObject();
        config.Remove("feedback");
        File.WriteAllText(Path.Combine(run, "config.json"), config.ToJsonString());
        var (tensors, meta) = TensorFile.Load(Path.Combine(run, "checkpoint.acwa"));
        var trainer = meta["extra"]!["trainer"]!.AsObject();
        trainer.Remove("feedback");
        trainer["config"]!.AsObject().Remove("feedback");
        TensorFile.Save(Path.Combine(run, "checkpoint.acwa"), tensors, meta);

        var log = new StringWriter();
        ReproduceRun.Run(o, log);
        Assert.Equal(2, log.ToString().Split('\n').Count(l => l.Contains(": already finished, re-evaluated;", StringComparison.Ordinal)));
        // The same folder asked for with the other feedback source is refused, naming the setting.
        var e = Assert.Throws<ArgumentException>(() => ReproduceRun.Run(o with { Methods = null, ExtraMethods = ["acwa-tr=ce/acwa"] }, new StringWriter()));
        Assert.Contains("feedback \"training\", this invocation asks for \"validation\"", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReportOnlyReportsFinishedMethodsListsTheOthersAndTrainsNothing()
    {
        var outDir = _dir.File("partial");
        var o = new ReproduceOptions { Dataset = Dataset(), Model = "mlp", Epochs = 2, Seeds = 2, Batch = 32, Methods = "ce", OutDir = outDir, Threads = 1 };
        ReproduceRun.Run(o, new StringWriter());
        var log = new StringWriter();
        var results = ReproduceRun.Run(o with { Methods = "ce,cb", ReportOnly = true }, log);
        Assert.Equal(["ce"], results.Select(r => r.Method.Name));
        Assert.Contains("not in the report (--report-only trains nothing): cb: seed0 not started, seed1 not started", log.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(" epoch ", log.ToString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(outDir, "cb")));
        AssertReportHasCeNotCb(outDir);
        // Nothing finished at all: a clear error, exit code 2.
        var (rc, _, err) = CliRun.Invoke("reproduce", "--dataset", Dataset(), "--model", "mlp", "--epochs", "2", "--seeds", "2", "--batch", "32",
            "--methods", "cb", "--out", outDir, "--report-only");
        Assert.Equal(2, rc);
        Assert.Contains("no method has finished all 2 seeds", err, StringComparison.Ordinal);
    }

    [Fact]
    public void RunWithAnIncompleteEpochHistoryCountsAsFinishedAndTheReportSaysSo()
    {
        var outDir = _dir.File("gap");
        var o = new ReproduceOptions { Dataset = Dataset(), Model = "mlp", Epochs = 2, Seeds = 2, Batch = 32, Methods = "ce", OutDir = outDir, Threads = 1 };
        ReproduceRun.Run(o, new StringWriter());
        // A finished run whose checkpoint history lacks epoch 1, as runs resumed twice before the trainer's fix left them.
        var ckpt = Path.Combine(outDir, "ce", "seed1", "checkpoint.acwa");
        var (tensors, meta) = TensorFile.Load(ckpt);
        ((JsonArray)meta["extra"]!["trainer"]!["history"]!).RemoveAt(0);
        TensorFile.Save(ckpt, tensors, meta);
        // ... and whose metrics.json, rewritten by the last process from that history, lists only the epochs it has.
        var metricsPath = Path.Combine(outDir, "ce", "seed1", "metrics.json");
        var metrics = JsonNode.Parse(File.ReadAllText(metricsPath))!.AsArray();
        metrics.RemoveAt(0);
        File.WriteAllText(metricsPath, metrics.ToJsonString());

        // Still finished (the checkpoint's completed_epochs decides, not metrics.json), and the report names the gap.
        var results = ReproduceRun.Run(o with { ReportOnly = true }, new StringWriter());
        Assert.Equal(["ce"], results.Select(r => r.Method.Name));
        Assert.Equal([2], results[0].Runs[1].HistoryEpochs.Select(e => e + 1));
        Assert.Contains("Epoch history incomplete for ce seed1 (1 of 2: epochs 2-2)", File.ReadAllText(Path.Combine(outDir, "results.md")), StringComparison.Ordinal);
        var run1 = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")))!["methods"]![0]!["runs"]![1]!;
        Assert.Equal([2], run1["val_macro_f1_epochs"]!.AsArray().Select(v => (int)v!));
        Assert.True(File.Exists(Path.Combine(outDir, "ce", "mean_val_f1.png")));
    }

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void RunHeldByAnotherProcessIsSkippedLeftOutOfTheReportAndTakenOnceReleased()
    {
        var outDir = _dir.File("shared");
        var o = new ReproduceOptions { Dataset = Dataset(), Model = "mlp", Epochs = 1, Seeds = 2, Batch = 32, Methods = "ce,cb", OutDir = outDir, Threads = 1 };
        var cb1 = Path.Combine(outDir, "cb", "seed1");
        // Another process training cb seed1 holds an exclusive OS lock on its run.lock (flock on Linux: per open file, so a
        // second handle in this process is refused like another process's would be).
        using (var held = ReproduceRun.TryHoldRun(cb1))
        {
            Assert.NotNull(held);
            Assert.Null(ReproduceRun.TryHoldRun(cb1));
            var log = new StringWriter();
            var results = ReproduceRun.Run(o, log);
            Assert.Equal(["ce"], results.Select(r => r.Method.Name));
            Assert.Contains("cb seed1: held by another acwa process (its run.lock), skipped here", log.ToString(), StringComparison.Ordinal);
            Assert.Contains("cb seed0: trained;", log.ToString(), StringComparison.Ordinal);
            Assert.Contains("not in this report (running in another process): cb seed1", log.ToString(), StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(cb1, "checkpoint.acwa")));
            AssertReportHasCeNotCb(outDir);
        }
        // Released: the next invocation trains only that run and reports both methods.
        var log2 = new StringWriter();
        var all = ReproduceRun.Run(o, log2);
        Assert.Equal(["ce", "cb"], all.Select(r => r.Method.Name));
        Assert.Contains("cb seed1: trained;", log2.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, log2.ToString().Split('\n').Count(l => l.Contains("val macro-F1", StringComparison.Ordinal)));
        Assert.NotNull(ReproduceRun.TryHoldRun(cb1)); // and the finished process let go of it
    }

    private static void AssertReportHasCeNotCb(string outDir)
    {
        var md = File.ReadAllLines(Path.Combine(outDir, "results.md"));
        Assert.Contains(md, l => l.StartsWith("| ce |", StringComparison.Ordinal));
        Assert.DoesNotContain(md, l => l.StartsWith("| cb |", StringComparison.Ordinal));
    }

    /// <summary>The summary table of results.md: its header and one row per method.</summary>
    private static string[] SummaryTable(string outDir) =>
        File.ReadAllLines(Path.Combine(outDir, "results.md")).SkipWhile(l => !l.StartsWith("| method |", StringComparison.Ordinal)).TakeWhile(l => l.StartsWith('|')).ToArray();

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void TwoShardsOfAGridThenReportOnlyGiveTheUnshardedTableAndNameMissingRuns()
    {
        var data = Dataset();
        ReproduceOptions Options(string dir) => new() { Dataset = data, Model = "mlp", Epochs = 1, Seeds = 2, Batch = 32, Methods = "cb,ce", OutDir = _dir.File(dir), Threads = 1 };
        ReproduceRun.Run(Options("whole"), new StringWriter());

        // Shard 1 of 2 (from Slurm's variables): the sorted manifest is cb seed0, cb seed1, ce seed0, ce seed1; r mod 2 == 1.
        var log1 = new StringWriter();
        var slurm = new Dictionary<string, string> { ["SLURM_ARRAY_TASK_ID"] = "11", ["SLURM_ARRAY_TASK_MIN"] = "10", ["SLURM_ARRAY_TASK_COUNT"] = "2" };
        ReproduceRun.Run(Options("sharded") with { Environment = n => slurm.GetValueOrDefault(n) }, log1);
        Assert.Contains("shard 1/2 (SLURM_ARRAY_TASK_ID 11 - SLURM_ARRAY_TASK_MIN 10, SLURM_ARRAY_TASK_COUNT 2): 2 of the grid's 4 runs", log1.ToString(), StringComparison.Ordinal);
        Assert.Contains("cb seed1, ce seed1", log1.ToString(), StringComparison.Ordinal);
        Assert.True(File.Exists(_dir.File("sharded/cb/seed1/checkpoint.acwa")));
        Assert.False(Directory.Exists(_dir.File("sharded/cb/seed0")));
        Assert.False(File.Exists(_dir.File("sharded/results.md"))); // a shard writes no report

        // Report-only before the other shard has run: names the missing runs, reports no method (none has all seeds).
        var early = new StringWriter();
        Assert.Throws<ArgumentException>(() => ReproduceRun.Run(Options("sharded") with { ReportOnly = true }, early));
        Assert.Contains("missing runs (2 of 4, not finished): cb seed0 (OUT/cb/seed0), ce seed0 (OUT/ce/seed0)", early.ToString(), StringComparison.Ordinal);

        var log0 = new StringWriter();
        ReproduceRun.Run(Options("sharded") with { Shard = "0/2" }, log0);
        Assert.Contains("shard 0/2 (--shard): 2 of the grid's 4 runs", log0.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(" epoch 1/1", log0.ToString().Split('\n').Where(l => l.Contains("seed1", StringComparison.Ordinal)));

        var report = new StringWriter();
        ReproduceRun.Run(Options("sharded") with { ReportOnly = true }, report);
        Assert.DoesNotContain("missing runs", report.ToString(), StringComparison.Ordinal);
        Assert.Equal(SummaryTable(_dir.File("whole")), SummaryTable(_dir.File("sharded")));
        Assert.Equal(3, SummaryTable(_dir.File("sharded")).Length - 1);
        // Finished runs leave no lock files behind.
        Assert.Empty(Directory.GetFiles(_dir.File("sharded"), ReproduceRun.LockFile, SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(_dir.File("whole"), ReproduceRun.LockFile, SearchOption.AllDirectories));
    }

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void SplitValidationReportsTheFinalEpochsValidationMetricsAndNoTestNumber()
    {
        var outDir = _dir.File("val");
        var log = new StringWriter();
        ReproduceRun.Run(new ReproduceOptions { Dataset = Dataset(), Model = "mlp", Epochs = 2, Seeds = 2, Batch = 32, Methods = "ce,acwa-wilson", OutDir = outDir, Threads = 1, Split = "validation" }, log);
        var md = File.ReadAllLines(Path.Combine(outDir, "results.md"));
        foreach (var m in new[] { "ce", "acwa-wilson" })
        {
            // The last row of each run's metrics.csv: val_balanced_accuracy (column 5), val_macro_f1 (6), per-class F1 from column 10.
            var last = Enumerable.Range(0, 2).Select(s => File.ReadAllLines(Path.Combine(outDir, m, $"seed{s}", "metrics.csv"))[^1].Split(',')
                .Select(v => v.Length == 0 ? double.NaN : double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
            var macro = last.Select(r => r[6]).ToList();
            var bal = last.Select(r => r[5]).ToList();
            var minority = last.Select(r => r.Skip(10).Skip(5).Average()).ToList();
            var row = Assert.Single(md, l => l.StartsWith($"| {m} |", StringComparison.Ordinal) && l.Contains('±'));
            Assert.Contains($"| {Pct(macro)} | {Pct(minority)} | {Pct(bal)} |", row, StringComparison.Ordinal);
        }
        Assert.Contains(md, l => l.StartsWith("| method | loss | policy | validation macro-F1 |", StringComparison.Ordinal));
        Assert.Contains(md, l => l.StartsWith("**Validation numbers**", StringComparison.Ordinal));
        Assert.Contains(md, l => l.StartsWith("| method | loss | policy | validation macro-F1 difference", StringComparison.Ordinal));
        Assert.DoesNotContain("test macro-F1", string.Join("\n", md), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("test macro-F1", log.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal("validation", JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")))!["split"]!.GetValue<string>());
        var err = new StringWriter();
        Assert.Equal(2, ReproduceRun.Execute(new ReproduceOptions { Dataset = Dataset(), Split = "train", OutDir = _dir.File("bad-split") }, new StringWriter(), err));
        Assert.Contains("--split must be test or validation", err.ToString(), StringComparison.Ordinal);
    }

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void OneSeedPrintsTheValueAloneAndLeavesNoLockFiles()
    {
        var outDir = _dir.File("one");
        var log = new StringWriter();
        ReproduceRun.Run(new ReproduceOptions { Dataset = Dataset(), Model = "mlp", Epochs = 1, Seeds = 1, Batch = 32, Methods = "ce,acwa", OutDir = outDir, Threads = 1 }, log);
        var md = File.ReadAllText(Path.Combine(outDir, "results.md"));
        Assert.DoesNotContain("±", md, StringComparison.Ordinal);
        Assert.DoesNotContain("±", log.ToString(), StringComparison.Ordinal);
        var row = Assert.Single(SummaryTable(outDir), l => l.StartsWith("| ce |", StringComparison.Ordinal));
        var macro = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "ce", "seed0", "test_report.json")))!["macro"]!["f1"]!.GetValue<double>();
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"| {100 * macro:F2} |"), row, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(outDir, ReproduceRun.LockFile, SearchOption.AllDirectories));
    }

    [Fact]
    public void RunHoldRemovesItsLockFileAndTheNextHolderMakesANewOne()
    {
        var run = _dir.File("held");
        var lockFile = Path.Combine(run, ReproduceRun.LockFile);
        var a = ReproduceRun.TryHoldRun(run);
        Assert.NotNull(a);
        Assert.True(File.Exists(lockFile));
        Assert.Null(ReproduceRun.TryHoldRun(run)); // held (flock is per open file: a second handle is refused like another process)
        // A process that opened the file just before the holder removed it would get the lock on a removed file: it sees the
        // mark. (Opened with libc's open: .NET's FileStream would take a shared flock, which the holder's lock refuses.)
        int stale = OperatingSystem.IsLinux() ? LibcOpen(lockFile, 0) : -1;
        a!.Dispose();
        Assert.False(File.Exists(lockFile));
        if (stale >= 0)
        {
            var buf = new byte[16];
            int n = (int)LibcRead(stale, buf, buf.Length);
            LibcClose(stale);
            Assert.Equal("removed\n", System.Text.Encoding.ASCII.GetString(buf, 0, n));
        }
        using var b = ReproduceRun.TryHoldRun(run);
        Assert.NotNull(b);
        Assert.True(File.Exists(lockFile));
        Assert.Equal(0, new FileInfo(lockFile).Length);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int LibcOpen([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string path, int flags);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "read", SetLastError = true)]
    private static extern nint LibcRead(int fd, byte[] buffer, nint count);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "close")]
    private static extern int LibcClose(int fd);

    public void Dispose() => _dir.Dispose();
}
