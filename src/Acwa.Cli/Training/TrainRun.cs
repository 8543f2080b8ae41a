using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Acwa.Cli.Commands;
using Acwa.Cli.Reporting;
using Acwa.Onnx;
using Acwa.Onnx.Data;
using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Metrics;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;
using Acwa.Onnx.Weighting;
using Spectre.Console;

namespace Acwa.Cli.Training;

/// <summary>
/// One training run end to end: data (dataset, imbalance protocol, stratified validation split), model, training artifacts,
/// the trainer with a class-weight policy, progress, and the run folder (config, per-epoch metrics and weights, checkpoint,
/// final confusion matrix, inference model, PNG plots).
/// </summary>
internal static class TrainRun
{
    /// <summary>What a finished run produced (for tests and <c>acwa reproduce</c>).</summary>
    internal sealed record Outcome(string OutDir, ClassificationReport? Test, ConfusionMatrix? TestConfusion, IReadOnlyList<JsonObject> History, double[] FinalWeights);

    public static int Execute(TrainRunOptions o, TextWriter output, TextWriter error)
    {
        try
        {
            Run(o, output);
            return 0;
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            return ConsoleOutput.Fail(error, e.Message);
        }
    }

    /// <summary>Failures whose message is meant for the user (bad input, missing data or device, diverged training): printed without a stack trace.</summary>
    internal static bool IsUserFacing(Exception e) =>
        e is ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException
            or FormatException or NotSupportedException or DeviceUnavailableException or NonFiniteLossException;

    public static Outcome Run(TrainRunOptions o, TextWriter output)
    {
        var console = ConsoleOutput.For(output);
        if (o.Epochs < 1) throw new ArgumentException($"--epochs must be 1 or more, got {o.Epochs}");
        if (o.Batch < 1) throw new ArgumentException($"--batch must be 1 or more, got {o.Batch}");
        if (o.ValidationFraction <= 0 || o.ValidationFraction >= 1) throw new ArgumentException($"--val-fraction must be in (0, 1), got {o.ValidationFraction}");
        var device = Device.Parse(o.Device);
        if (o.CudaGraph && !device.IsCuda) throw new ArgumentException($"--cuda-graph needs a CUDA device (--device cuda), not '{device}'");
        // The compiler refuses both too (ForwardModelInfo); checked here as well so the data is not loaded first.
        if (o.Trainable is not null && o.Frozen is not null) throw new ArgumentException("give either --trainable or --frozen, not both");
        var outDir = Path.GetFullPath(o.ResolveOutDir());
        var checkpoint = Path.Combine(outDir, "checkpoint.acwa");
        if (!o.Resume && File.Exists(checkpoint))
            throw new ArgumentException($"'{outDir}' already holds a run (checkpoint.acwa); pass --resume to continue it or choose another --out");
        Directory.CreateDirectory(outDir);
        if (o.Resume && File.Exists(checkpoint)) EnsureSameConfig(checkpoint, o);

        // Data: the dataset's own train/test split, the imbalance protocol on train, then a stratified validation split.
        if (o.ImageSize is < 1) throw new ArgumentException($"--image-size must be positive, got {o.ImageSize}");
        var modelFile = ModelCatalog.LoadFile(o.Model); // read once: image size, input check and the artifacts use it
        var data = IsNpy(o.Dataset) ? LoadNpy(o, modelFile) : LoadImages(o, modelFile, output);
        var (train, validation, test) = (data.Train, data.Validation, data.Test);
        int classes = train.ClassCount;
        var counts = train.ClassCounts().Select(c => (long)c).ToArray();
        console.WriteLine($"data: {data.Name} | imbalance {o.Imbalance} | train {train.Count}, validation {validation.Count}, test {test.Count} | train counts [{string.Join(", ", counts)}]");

        // Model and training artifacts (regenerated deterministically; reused on resume).
        var artifacts = Path.Combine(outDir, "artifacts");
        if (!(o.Resume && File.Exists(Path.Combine(artifacts, "manifest.json"))))
        {
            var forward = modelFile ?? data.BuiltIn!(classes);
            var set = ModelCatalog.Compile(forward, ArtifactOptionsFor(o, counts, train.ClassNames, device), modelFile is null ? null : o.Model);
            TrainingArtifacts.Write(set, artifacts);
        }
        AtomicFile.WriteAllText(Path.Combine(outDir, "config.json"), o.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        using var runner = new StepRunner(artifacts, new StepRunnerOptions { Device = device, IntraOpThreads = o.Threads > 0 ? o.Threads : null, CudaGraph = o.CudaGraph });
        var policy = PolicyFactory.Create(o.Policy, counts, o.Epochs);
        var trainer = data.NewTrainer(runner, policy, new TrainerOptions
        {
            Epochs = o.Epochs, BatchSize = o.Batch, Seed = o.Seed, Normalization = data.Normalization, Augmentation = data.Augmentation,
            Schedule = LearningRateSchedules.Parse(o.Schedule, o.LearningRate), CheckpointPath = checkpoint,
            EvaluateTestEachEpoch = o.TestEachEpoch, Config = o.ToJson(),
        });

        var history = new List<JsonObject>();
        if (o.Resume && File.Exists(checkpoint))
        {
            foreach (var h in trainer.Resume(checkpoint)) history.Add((JsonObject)h!.DeepClone());
            console.WriteLine($"resumed from {checkpoint} after epoch {trainer.CompletedEpochs}/{o.Epochs}");
        }
        console.WriteLine($"model {o.Model} | loss {o.Loss} | policy {policy.Spec} | {o.Optimizer} lr {o.LearningRate} ({o.Schedule}) | batch {o.Batch} | {o.Epochs} epochs | device {device} | run folder {outDir}");

        var names = train.ClassNames;
        trainer.EpochCompleted += (_, r) =>
        {
            history.Add(r.ToJson());
            WriteEpochFiles(outDir, history, names);
        };
        var result = RunWithProgress(trainer, o, console, history);
        Report(outDir, result, runner, data.Normalization, names, history, console);
        return new Outcome(outDir, result.Test, result.TestConfusion, history, result.FinalWeights);
    }

    /// <summary>
    /// The run's splits and how to train on them: images (normalised, augmented, a built-in model possible) or samples
    /// from .npy files that are not images (fed as they are, a model file needed).
    /// </summary>
    private sealed record RunData(string Name, ILabeledDataset Train, ILabeledDataset Validation, ILabeledDataset Test,
        Normalization? Normalization, Augmentation? Augmentation, Func<int, ModelProto>? BuiltIn,
        Func<StepRunner, IClassWeightPolicy, TrainerOptions, Trainer> NewTrainer);

    /// <summary>Whether <paramref name="dataset"/> names .npy files (<c>npy:X.npy,Y.npy[,XTEST.npy,YTEST.npy]</c>).</summary>
    internal static bool IsNpy(string dataset) => dataset.TrimStart().StartsWith("npy:", StringComparison.OrdinalIgnoreCase);

    private static RunData LoadImages(TrainRunOptions o, ModelProto? modelFile, TextWriter output)
    {
        var spec = DatasetSpec.Parse(o.Dataset);
        var pair = spec.Load(o.ImageSize ?? ModelCatalog.DeclaredImageSide(modelFile) ?? Isic2018Reader.DefaultSize, o.CacheDir,
            grey: ModelCatalog.DeclaredGrey(modelFile));
        if (pair.Notice is not null) output.WriteLine(pair.Notice); // the embedded Fashion-MNIST subset stands in for the full set
        return ImageRun(o, modelFile, spec.ToString(), pair);
    }

    /// <summary>The run's imbalance protocol on the training data, then its stratified validation split.</summary>
    private static (T Train, T Validation) TrainAndValidation<T>(TrainRunOptions o, T data) where T : ILabeledDataset<T> =>
        StratifiedSplit.Split(ImbalanceProtocol.Parse(o.Imbalance).Apply(data, o.Seed), o.ValidationFraction, o.Seed);

    /// <summary>The imbalance protocol and the validation split on the training images, and the input check against a model file.</summary>
    private static RunData ImageRun(TrainRunOptions o, ModelProto? modelFile, string name, DatasetPair pair)
    {
        var (train, validation) = TrainAndValidation(o, pair.Train);
        if (ModelCatalog.InputMismatch(modelFile, o.Model, train.Channels, train.Height, train.Width) is { } mismatch)
            throw new ArgumentException(mismatch);
        return new RunData(name, train, validation, pair.Test, pair.Normalization, pair.Augmentation,
            classes => ModelCatalog.Resolve(o.Model, classes, train.Channels, train.Height, train.Width, (int)(o.Seed % int.MaxValue)),
            (runner, policy, options) => new Trainer(runner, train, validation, policy, options, pair.Test));
    }

    /// <summary>
    /// <c>npy:X.npy,Y.npy[,XTEST.npy,YTEST.npy]</c>: uint8 images <c>[N, H, W]</c> or <c>[N, C, H, W]</c> (normalised with
    /// statistics of the training images, pad-crop-flip for colour, as IDX files), else samples fed as they are: floats
    /// (features, sequences, signals) or, for a model whose input is int64, token ids. Classes are <c>0 .. max label</c> over
    /// the label files; without test files the test set is a stratified split carved from the training data
    /// (<see cref="DatasetSpec.TestSplitFraction"/>, fixed seed), as for IDX files.
    /// </summary>
    private static RunData LoadNpy(TrainRunOptions o, ModelProto? modelFile)
    {
        var files = o.Dataset.Trim()[4..].Split(',', StringSplitOptions.TrimEntries);
        if (files.Length is not (2 or 4) || files.Any(f => f.Length == 0))
            throw new FormatException($"dataset '{o.Dataset}': expected npy:X.npy,Y.npy or npy:X.npy,Y.npy,XTEST.npy,YTEST.npy");
        bool ids = modelFile is not null && ModelCatalog.TakesTokenIds(modelFile);
        var y = NpyFile.ReadLabels(files[1]);
        var testY = files.Length == 4 ? NpyFile.ReadLabels(files[3]) : null;
        int classes = Math.Max(NpyData.LabelCount(y, files[1]), testY is null ? 0 : NpyData.LabelCount(testY, files[3]));
        var names = NpyData.ClassNames(classes);
        var x = NpyData.ReadSamples(files[0], y, files[1], classes);
        var testFiles = testY is null ? default : (X: NpyData.ReadSamples(files[2], testY, files[3], classes), Y: testY);
        string shape = string.Join("x", x.Shape.Skip(1));
        if (!ids && NpyData.IsImages(x))
        {
            var images = NpyData.Images(x, y, names, files[0]);
            var (train, test) = testFiles.X is null
                ? DatasetSpec.CarveTest(images)
                : (images, NpyData.Images(testFiles.X, testFiles.Y, names, files[2]));
            if (test.ImageSize != train.ImageSize || test.Channels != train.Channels)
                throw new InvalidDataException($"{files[2]}: test images are [{test.Channels}x{test.Height}x{test.Width}], the training images in {files[0]} [{train.Channels}x{train.Height}x{train.Width}]");
            return ImageRun(o, modelFile, $"npy uint8 images [{shape}], {classes} classes",
                new DatasetPair(train, test, Normalization.Compute(train), train.Channels == 3 ? Augmentation.PadCropFlip : Augmentation.None));
        }
        if (modelFile is null)
            throw new ArgumentException($"--model {o.Model}: {files[0]} holds {x.DType} samples [{shape}], which a model file takes (the built-in models take images); give --model M.onnx");
        var all = SampleDataset.FromNpy(x, y, ids, names, files[0]);
        if (ModelCatalog.SampleMismatch(modelFile, o.Model, all.SampleShape) is { } mismatch)
            throw new ArgumentException($"{files[0]}: {mismatch}");
        var (trainAll, testSet) = testFiles.X is null
            ? DatasetSpec.CarveTest(all)
            : (all, SampleDataset.FromNpy(testFiles.X, testFiles.Y, ids, names, files[2]));
        if (!trainAll.SampleShape.SequenceEqual(testSet.SampleShape))
            throw new InvalidDataException($"{files[2]}: test samples are [{string.Join("x", testSet.SampleShape)}], the training samples in {files[0]} [{shape}]");
        var (trainSet, validation) = TrainAndValidation(o, trainAll);
        return new RunData($"npy {(ids ? "token ids" : "float samples")} [{shape}], {classes} classes", trainSet, validation, testSet, null, null, null,
            (runner, policy, options) => new Trainer(runner, trainSet, validation, policy, options, testSet));
    }

    /// <summary>Settings a resumed run may change: where and how fast it runs, not what it computes.</summary>
    private static readonly HashSet<string> ResumableChanges = new(StringComparer.Ordinal) { "device", "threads", "cuda_graph" };

    /// <summary>
    /// Refuses to resume <paramref name="checkpoint"/> with other settings than the run that wrote it (its
    /// <c>extra.trainer.config</c>): the artifacts are reused on resume, so a changed --loss, --optimizer, --model,
    /// --trainable, ... would otherwise be written into config.json while the old ones keep training.
    /// </summary>
    private static void EnsureSameConfig(string checkpoint, TrainRunOptions o)
    {
        var meta = TensorFile.LoadMeta(checkpoint);
        if ((meta["extra"] as JsonObject)?["trainer"]?["config"] is not JsonObject saved) return; // Trainer.Resume names what is missing
        foreach (var (key, now) in o.ToJson())
        {
            if (ResumableChanges.Contains(key) || !saved.ContainsKey(key)) continue;
            var was = saved[key];
            string Text(JsonNode? v) => v?.ToJsonString() ?? "null";
            if (Text(was) != Text(now))
                throw new ArgumentException($"'{checkpoint}' was written with {key} = {Text(was)}, this run has {Text(now)} (--{key.Replace('_', '-')}); " +
                    "resume with the run's settings (see config.json) or choose another --out");
        }
    }

    internal static ArtifactOptions ArtifactOptionsFor(TrainRunOptions o, long[] counts, IReadOnlyList<string> names, Device device)
    {
        var loss = o.Loss.ToLowerInvariant() switch
        {
            "ce" => LossKind.CrossEntropy,
            "focal" => LossKind.Focal,
            "ldam" => LossKind.Ldam,
            "la" or "logit-adjusted" => LossKind.LogitAdjusted,
            _ => throw new ArgumentException($"unknown --loss '{o.Loss}': use ce, focal, ldam or la"),
        };
        var opt = o.Optimizer.ToLowerInvariant() switch
        {
            "adam" => OptimizerKind.Adam,
            "adamw" => OptimizerKind.AdamW,
            "sgd" => OptimizerKind.Sgd,
            _ => throw new ArgumentException($"unknown --optimizer '{o.Optimizer}': use adam, sgd or adamw"),
        };
        return new ArtifactOptions
        {
            Loss = loss,
            Optimizer = opt,
            LearningRate = (float)o.LearningRate,
            Momentum = opt == OptimizerKind.Sgd ? (float)o.Momentum : 0f,
            WeightDecay = (float)o.WeightDecay,
            LdamMargins = loss == LossKind.Ldam ? ClassPriors.LdamMargins(counts).Select(v => (float)v).ToArray() : null,
            LogPrior = loss == LossKind.LogitAdjusted ? ClassPriors.LogPriors(counts).Select(v => (float)v).ToArray() : null,
            NumClasses = counts.Length,
            ClassNames = names,
            Device = device.Kind == DeviceKind.Cpu ? "cpu" : "cuda",
            Trainable = o.Trainable,
            Frozen = o.Frozen,
            FrozenBatchNorm = o.FrozenBatchNorm,
        };
    }

    private static TrainingResult RunWithProgress(Trainer trainer, TrainRunOptions o, IAnsiConsole console, List<JsonObject> history)
    {
        int batches = trainer.BatchesPerEpoch;
        string unit = IsNpy(o.Dataset) ? "samples" : "img";
        var clock = Stopwatch.StartNew();
        long images = 0;
        void EpochLine(EpochResult r) => console.MarkupLine(Markup.Escape(EpochSummary(r, o.Epochs)));

        if (o.Quiet || !console.Profile.Capabilities.Interactive)
        {
            trainer.EpochCompleted += (_, r) => EpochLine(r);
            return trainer.Run();
        }
        TrainingResult? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var epochTask = ctx.AddTask("epochs", maxValue: o.Epochs);
                epochTask.Value = trainer.CompletedEpochs;
                var stepTask = ctx.AddTask("steps", maxValue: batches);
                trainer.StepCompleted += (_, p) =>
                {
                    images += p.BatchSize;
                    stepTask.Value = p.Batch + 1;
                    if (p.Batch % 8 == 0 || p.Batch + 1 == p.BatchesPerEpoch)
                        stepTask.Description = $"epoch {p.Epoch + 1}/{o.Epochs} loss {p.Loss:F4} {images / clock.Elapsed.TotalSeconds:F0} {unit}/s";
                };
                trainer.EpochCompleted += (_, r) =>
                {
                    epochTask.Value = r.Epoch + 1;
                    epochTask.Description = $"epochs (val macro-F1 {r.Validation.MacroF1:F4})";
                    stepTask.Value = 0;
                    console.MarkupLine(Markup.Escape(EpochSummary(r, o.Epochs)));
                };
                result = trainer.Run();
                epochTask.Value = o.Epochs;
                stepTask.Value = batches;
            });
        return result!;
    }

    private static string EpochSummary(EpochResult r, int epochs) => string.Create(CultureInfo.InvariantCulture,
        $"epoch {r.Epoch + 1}/{epochs}: loss {r.TrainLoss:F4}, train acc {r.TrainAccuracy:F4}, val macro-F1 {r.Validation.MacroF1:F4}, " +
        $"val bal-acc {r.Validation.BalancedAccuracy:F4}{(r.Test is null ? "" : $", test macro-F1 {r.Test.MacroF1:F4}")}, " +
        $"weights [{string.Join(" ", r.NextWeights.Select(w => w.ToString("F3", CultureInfo.InvariantCulture)))}], " +
        $"{r.Timings.Total:F1} s (ACWA overhead {r.Timings.AcwaOverheadFraction:P2})");

    /// <summary>metrics.csv / metrics.json / weights.csv, rewritten atomically after every epoch.</summary>
    private static void WriteEpochFiles(string outDir, List<JsonObject> history, IReadOnlyList<string> names)
    {
        var csv = new StringBuilder();
        csv.Append("epoch,train_loss,train_accuracy,learning_rate,val_accuracy,val_balanced_accuracy,val_macro_f1,test_macro_f1,epoch_seconds,acwa_overhead_fraction");
        foreach (var n in names) csv.Append(",f1_").Append(Csv(n));
        csv.AppendLine();
        var wcsv = new StringBuilder("epoch");
        foreach (var n in names) wcsv.Append(",w_").Append(Csv(n));
        wcsv.AppendLine();
        foreach (var h in history)
        {
            string G(string k) => h[k] is JsonNode v ? v.GetValue<double>().ToString("R", CultureInfo.InvariantCulture) : "";
            int epoch = h["epoch"]!.GetValue<int>() + 1;
            var t = h["timings"] as JsonObject;
            csv.Append(CultureInfo.InvariantCulture, $"{epoch},{G("train_loss")},{G("train_accuracy")},{G("learning_rate")},{G("val_accuracy")},{G("val_balanced_accuracy")},{G("val_macro_f1")},{G("test_macro_f1")},");
            csv.Append(CultureInfo.InvariantCulture, $"{t?["total"]?.GetValue<double>().ToString("R", CultureInfo.InvariantCulture)},{t?["acwa_overhead_fraction"]?.GetValue<double>().ToString("R", CultureInfo.InvariantCulture)}");
            foreach (var f in h["val_f1"]!.AsArray()) csv.Append(',').Append(f!.GetValue<double>().ToString("R", CultureInfo.InvariantCulture));
            csv.AppendLine();
            wcsv.Append(epoch);
            foreach (var w in h["weights"]!.AsArray()) wcsv.Append(',').Append(w!.GetValue<double>().ToString("R", CultureInfo.InvariantCulture));
            wcsv.AppendLine();
        }
        AtomicFile.WriteAllText(Path.Combine(outDir, "metrics.csv"), csv.ToString());
        AtomicFile.WriteAllText(Path.Combine(outDir, "weights.csv"), wcsv.ToString());
        AtomicFile.WriteAllText(Path.Combine(outDir, "metrics.json"), new JsonArray(history.Select(h => (JsonNode)h.DeepClone()).ToArray()).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static string Csv(string s) => s.Replace(',', ' ').Replace('"', ' ');

    private static void Report(string outDir, TrainingResult result, StepRunner runner, Normalization? normalization, IReadOnlyList<string> names,
        List<JsonObject> history, IAnsiConsole console)
    {
        // Inference model with the trained weights and the metadata `acwa eval` reads, written once (a model without the
        // normalization metadata would be evaluated on unnormalized inputs).
        var modelPath = Path.Combine(outDir, "model.onnx");
        var model = runner.InferenceModel();
        SetMeta(model, ClassifierMetadata.ClassNamesKey, string.Join(",", names.Select(n => n.Replace(',', ' '))));
        if (normalization is not null) // samples from .npy files are fed as they are
            SetMeta(model, ClassifierMetadata.NormalizationKey, new JsonObject
            {
                ["mean"] = new JsonArray(normalization.Mean.Select(v => (JsonNode)v).ToArray()),
                ["std"] = new JsonArray(normalization.Std.Select(v => (JsonNode)v).ToArray()),
            }.ToJsonString());
        OnnxModel.Save(model, modelPath);

        if (history.Count > 0)
        {
            var f1 = history.Select(h => h["val_f1"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray()).ToList();
            var w = history.Select(h => h["weights"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray()).ToList();
            TrainingPlots.PerClassLines(Path.Combine(outDir, "f1_per_class.png"), "Validation F1 per class", "F1", f1, names);
            TrainingPlots.PerClassLines(Path.Combine(outDir, "weights_per_class.png"), "Class weights used in each epoch", "weight", w, names);
        }
        if (result.Test is { } test && result.TestConfusion is { } cm)
        {
            AtomicFile.WriteAllText(Path.Combine(outDir, "test_report.json"), test.ToJson());
            var counts = cm.ToArray();
            var csv = new StringBuilder("true\\predicted," + string.Join(",", names.Select(Csv)) + "\n");
            for (int i = 0; i < cm.Classes; i++)
                csv.Append(Csv(names[i])).Append(',').AppendJoin(",", Enumerable.Range(0, cm.Classes).Select(j => counts[i, j])).Append('\n');
            AtomicFile.WriteAllText(Path.Combine(outDir, "confusion_matrix.csv"), csv.ToString());
            TrainingPlots.ConfusionHeatmap(Path.Combine(outDir, "confusion_matrix.png"), $"Test confusion matrix (macro-F1 {test.MacroF1:F4})", counts, names);

            static string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);
            var t = new Table().Title("test set, final model").AddColumns("class", "name", "F1", "precision", "recall", "support", "weight");
            foreach (var c in test.Classes)
                t.AddRow(c.Index.ToString(CultureInfo.InvariantCulture), Markup.Escape(c.Name), F(c.F1), F(c.Precision), F(c.Recall),
                    c.Support.ToString(CultureInfo.InvariantCulture), result.FinalWeights[c.Index].ToString("0.000", CultureInfo.InvariantCulture));
            console.Write(t);
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"test: macro-F1 {test.MacroF1:F4}, accuracy {test.Accuracy:F4}, balanced accuracy {test.BalancedAccuracy:F4}, weighted F1 {test.WeightedF1:F4}, " +
                $"minority-class F1 (classes {test.Classes.Count / 2}-{test.Classes.Count - 1}) {MinorityF1(test):F4}"));
        }
        double overhead = history.Count == 0 ? 0 : history.Average(h => h["timings"]?["acwa_overhead_fraction"]?.GetValue<double>() ?? 0);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{result.Seconds:F1} s for this invocation; mean ACWA overhead {overhead:P3} of an epoch (validation metrics + weight update)"));
        console.WriteLine($"run folder: {outDir} (config.json, metrics.csv/json, weights.csv, checkpoint.acwa, model.onnx, confusion_matrix.csv/png, f1_per_class.png, weights_per_class.png)");
    }

    /// <summary>Mean F1 of the step protocol's minority classes (5..C-1) when C = 10; of the classes after the first half otherwise.</summary>
    internal static double MinorityF1(ClassificationReport r)
    {
        int c = r.Classes.Count, from = c / 2;
        return r.Classes.Skip(from).Average(m => m.F1);
    }

    private static void SetMeta(ModelProto m, string key, string value)
    {
        foreach (var p in m.MetadataProps)
            if (p.Key == key) { p.Value = value; return; }
        m.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
    }
}
