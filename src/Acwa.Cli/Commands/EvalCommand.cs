using System.CommandLine;
using System.Globalization;
using Acwa.Onnx.Models;
using Acwa.Onnx.IO;
using Acwa.Onnx;
using Acwa.Onnx.Data;
using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Cli.Commands;

/// <summary>Plain options of <c>acwa eval</c>; the logic never sees the parser.</summary>
internal sealed record EvalOptions(
    string Model,
    string Dataset,
    string Split = "test",
    string? Input = null,
    string? Output = null,
    string Device = "cpu",
    int Batch = 256,
    string? JsonOut = null,
    IReadOnlyList<float>? Mean = null,
    IReadOnlyList<float>? Std = null,
    bool HostArgMax = false,
    int? Threads = null,
    bool AllowCpuFallback = false,
    bool KeepTrainingMode = false,
    string? Shard = null,
    int? Shards = null,
    Func<string, string?>? Environment = null);

/// <summary>What an evaluation covered: the whole split's fingerprint, and the shard and sample range evaluated (shard null: all).</summary>
internal sealed record EvalScope(DatasetFingerprint Dataset, string Split, Shard? Shard, long Start, long End);

/// <summary><c>acwa eval</c>: runs an ONNX classifier over a dataset and prints the per-class report.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "ONNX classifier: one input, fp32 images [N,C,H,W], fp32 samples [N,features] or [N,...] (features, sequences), or int64 token ids [N,T]; logits output fp32 [N,classes].", Required = true };
        var dataset = new Option<string>("--dataset")
        {
            Description = "fashion-mnist[:DIR] | cifar10:DIR | isic2018:DIR | folder:DIR | idx:IMAGES,LABELS[,TEST_IMAGES,TEST_LABELS] | npy:X.npy,Y.npy[,XTEST.npy,YTEST.npy] (with four files --split picks the pair) "
                + "(X: uint8 images [N,H,W] or [N,C,H,W], normalised like the others; float32/float64 samples [N,...], fed as they are; or int64/int32 token ids [N,T] for a model with an int64 input. Y integer [N]).",
            Required = true,
        };
        var split = new Option<string>("--split") { Description = "test or train (npy: with four files, test = XTEST,YTEST and train = X,Y; with X,Y only, those files are evaluated whatever the split).", DefaultValueFactory = _ => "test" };
        var input = new Option<string?>("--input") { Description = "Input name (default: metadata acwa.input, else the only input)." };
        var output = new Option<string?>("--output") { Description = "Logits output name (default: metadata acwa.output, else the first output)." };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        var batch = new Option<int>("--batch") { Description = "Samples per forward pass.", DefaultValueFactory = _ => 256 };
        var json = new Option<string?>("--json") { Description = "Also write the report as JSON to this file; with a shard, the shard's part (raw confusion matrix and what identifies the work) for `acwa metrics merge`." };
        var shard = new Option<string?>("--shard") { Description = "I/N: evaluate only shard I of N (samples [floor(I S/N), floor((I+1) S/N)) of the S samples); default from SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX of --shards (docs/scale-out.md)." };
        var shards = new Option<int?>("--shards") { Description = "N, the shard count, with Kubernetes' JOB_COMPLETION_INDEX (Kubernetes gives no count)." };
        var mean = new Option<string?>("--mean") { Description = "Per-channel mean of x/255, comma-separated (overrides metadata acwa.normalization; default 0)." };
        var std = new Option<string?>("--std") { Description = "Per-channel std of x/255, comma-separated (overrides metadata; default 1)." };
        var hostArgMax = new Option<bool>("--host-argmax") { Description = "Bring fp32 logits back and take the argmax on the host (checks NaN) instead of in the graph." };
        var threads = new Option<int?>("--threads") { Description = "CPU intra-op threads (default: one per core)." };
        var fallback = new Option<bool>("--allow-cpu-fallback") { Description = "CUDA only: let ONNX Runtime run some nodes on the CPU (models exported with shape arithmetic, e.g. PyTorch's reshapes over the batch size); by default such a model is refused with a message." };
        var keepTraining = new Option<bool>("--keep-training-mode") { Description = "Evaluate training-mode BatchNormalization and Dropout as they are (batch statistics, random dropout). By default a model exported in training mode is put into inference mode first: batch norm uses its running statistics, dropout is off." };
        var cmd = new Command("eval", "Evaluate an ONNX classifier on a dataset: confusion matrix and per-class precision / recall / F1.")
        {
            model, dataset, split, input, output, device, batch, json, mean, std, hostArgMax, threads, fallback, keepTraining, shard, shards,
        };
        cmd.SetAction(pr =>
        {
            var o = new EvalOptions(pr.GetValue(model)!, pr.GetValue(dataset)!, pr.GetValue(split)!, pr.GetValue(input), pr.GetValue(output),
                pr.GetValue(device)!, pr.GetValue(batch), pr.GetValue(json), ParseFloats(pr.GetValue(mean), "--mean"), ParseFloats(pr.GetValue(std), "--std"),
                pr.GetValue(hostArgMax), pr.GetValue(threads), pr.GetValue(fallback), pr.GetValue(keepTraining), pr.GetValue(shard), pr.GetValue(shards));
            return Run(o, pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error);
        });
        return cmd;
    }

    private static float[]? ParseFloats(string? s, string flag)
    {
        if (s is null) return null;
        return s.Split(',', StringSplitOptions.TrimEntries).Select(v => float.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) ? f
            : throw new FormatException($"{flag}: '{v}' is not a number")).ToArray();
    }

    /// <summary>Does the work; returns 0, or 2 after printing a one-line error.</summary>
    public static int Run(EvalOptions o, TextWriter output, TextWriter error)
    {
        try
        {
            var result = Compute(o, out string summary, out string? modeNotice, out var scope);
            if (modeNotice is not null) output.WriteLine(modeNotice);
            output.WriteLine(summary);
            MetricsCommand.Print(result.Report, result.Matrix, ConsoleOutput.For(output));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{result.Images} samples in {result.Elapsed.TotalSeconds:0.000} s ({result.ImagesPerSecond:0} samples/s)"));
            if (o.JsonOut is not null && scope.Shard is { } shard)
            {
                var part = new EvaluationPart(Path.GetFileName(o.Model), EvaluationPart.Sha256OfFile(o.Model), scope.Dataset, scope.Split,
                    result.Report.Classes.Select(c => c.Name).ToArray(), shard, scope.Start, scope.End, result.Matrix, result.Elapsed.TotalSeconds);
                part.Write(o.JsonOut);
                output.WriteLine($"part {shard} written to {o.JsonOut}; merge all {shard.Count} with `acwa metrics merge PART... --json REPORT`");
            }
            else if (o.JsonOut is not null)
            {
                AtomicFile.WriteAllText(o.JsonOut, result.Report.ToJson() + "\n");
                output.WriteLine($"report written to {o.JsonOut}");
            }
            return 0;
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IOException or UnauthorizedAccessException or FormatException
                                      or DeviceUnavailableException or OnnxRuntimeException)
        {
            return ConsoleOutput.Fail(error, OptionHints.WithFlags(e.Message));
        }
    }

    /// <summary>Loads the model and the dataset and evaluates; <paramref name="summary"/> says what ran on what.</summary>
    internal static EvaluationResult Compute(EvalOptions o, out string summary) => Compute(o, out summary, out _, out _);

    /// <summary>As above; <paramref name="modeNotice"/> says which training-mode nodes were put into inference mode (null: none).</summary>
    internal static EvaluationResult Compute(EvalOptions o, out string summary, out string? modeNotice) => Compute(o, out summary, out modeNotice, out _);

    /// <summary>As above; <paramref name="scope"/> says which data, shard and samples were evaluated.</summary>
    internal static EvaluationResult Compute(EvalOptions o, out string summary, out string? modeNotice, out EvalScope scope)
    {
        if (o.Split is not ("test" or "train")) throw new ArgumentException($"--split must be test or train, got '{o.Split}'");
        if (o.Batch < 1) throw new ArgumentException($"--batch must be at least 1, got {o.Batch}");
        if ((o.Mean is null) != (o.Std is null)) throw new ArgumentException("give both --mean and --std, or neither");
        var shard = Shard.Resolve(o.Shard, o.Shards, o.Environment, out string shardFrom);
        var options = new EvaluatorOptions
        {
            Device = Device.Parse(o.Device), BatchSize = o.Batch, Input = o.Input, Output = o.Output,
            ArgMaxInGraph = !o.HostArgMax, IntraOpThreads = o.Threads, AllowCpuFallback = o.AllowCpuFallback,
            KeepTrainingMode = o.KeepTrainingMode,
        };
        using var evaluator = Evaluator.Load(o.Model, options);
        modeNotice = TrainingModeNotice(evaluator.ConvertedToInferenceMode);
        var flagNorm = o.Mean is null ? null : new Normalization(o.Mean, o.Std!);
        var spec = DatasetSpec.Parse(o.Dataset);
        if (spec.Kind == DatasetKind.Npy)
        {
            string[] files = spec.Paths.Count == 4 && o.Split == "test" ? [spec.Paths[2], spec.Paths[3]] : [spec.Paths[0], spec.Paths[1]];
            var r = EvaluateNpy(evaluator, files, flagNorm, o, shard, out summary, out scope);
            summary = ShardLine(scope, shardFrom) + summary;
            return r;
        }

        var file = ModelCatalog.TryLoadFile(o.Model); // read once for the declared side and channels
        var pair = spec.Load(ModelCatalog.DeclaredImageSide(file) ?? Isic2018Reader.DefaultSize,
            grey: ModelCatalog.DeclaredGrey(file));
        var data = o.Split == "test" ? pair.Test : pair.Train;
        var paths = spec.Paths.Count > 0 ? spec.Paths
            : spec.Kind == DatasetKind.FashionMnist && spec.ResolveOrigin() == DatasetOrigin.Files ? [FashionMnist.DefaultDirectory] : [];
        var fingerprint = DatasetFingerprint.Of(spec.ToString(), paths, data.Labels, data.ClassCount);
        var (start, end) = (shard ?? Shard.Whole).Range(data.Count);
        scope = new EvalScope(fingerprint, o.Split, shard, start, end);
        if (shard is not null)
        {
            var indices = Enumerable.Range(checked((int)start), checked((int)(end - start))).ToArray();
            data = data.Subset(indices, $"{data.Source}; samples [{start}, {end})");
        }
        var (norm, from) = Choose(flagNorm, evaluator, data.Channels);
        summary = ShardLine(scope, shardFrom) + (pair.Notice is null ? "" : pair.Notice + Environment.NewLine) + $"model {o.Model} ({evaluator.InputName} -> {evaluator.OutputName}, {evaluator.Classes} classes, "
                  + $"{(evaluator.PredictionsInGraph ? "argmax in graph" : "argmax on host")}) on {options.Device}; {o.Split} set: {data}; normalisation {norm} ({from})";
        return evaluator.Evaluate(data, norm);
    }

    /// <summary>"shard I/N (from ...): samples [a, b) of S" and a newline, or nothing when unsharded.</summary>
    private static string ShardLine(EvalScope scope, string from) => scope.Shard is { } s
        ? string.Create(CultureInfo.InvariantCulture, $"shard {s} ({from}): samples [{scope.Start}, {scope.End}) of {scope.Dataset.Samples}{Environment.NewLine}")
        : "";

    /// <summary>The line that says which training-mode nodes were put into inference mode, or null when none were.</summary>
    internal static string? TrainingModeNotice(IReadOnlyList<string> converted)
    {
        if (converted.Count == 0) return null;
        var kinds = converted.GroupBy(d => d[(d.LastIndexOf('(') + 1)..^1]).Select(g => $"{g.Count()} {g.Key}");
        return $"the model was exported in training mode: {string.Join(", ", kinds)} put into inference mode (batch norm with its running statistics, "
               + "dropout off), so each prediction is independent of its batch; --keep-training-mode evaluates them as they are";
    }

    private static (Normalization Norm, string From) Choose(Normalization? flags, Evaluator e, int channels) =>
        flags is not null ? (flags, "--mean/--std")
        : e.Metadata.Normalization is { } m ? (m, $"model metadata {ClassifierMetadata.NormalizationKey}")
        : (Normalization.Scale01(channels), "default x/255");

    /// <summary>Evaluates the samples of <paramref name="files"/> (X.npy, Y.npy), only the shard's rows of X when sharded.</summary>
    private static EvaluationResult EvaluateNpy(Evaluator evaluator, string[] files, Normalization? flagNorm, EvalOptions o, Shard? shard,
        out string summary, out EvalScope scope)
    {
        var (_, fullShape) = NpyFile.ReadShape(files[0]);
        var yAll = NpyFile.ReadLabels(files[1]);
        if (fullShape.Count < 2 || fullShape[0] != yAll.Length)
            throw new InvalidDataException($"{files[0]}: expected [N, ...] with N = {yAll.Length} (labels in {files[1]}), got ({string.Join(", ", fullShape)})");
        var fingerprint = DatasetFingerprint.Of(o.Dataset, files, yAll, Math.Max(evaluator.Classes, yAll.DefaultIfEmpty(0).Max() + 1));
        var (start, end) = (shard ?? Shard.Whole).Range(yAll.Length);
        scope = new EvalScope(fingerprint, o.Split, shard, start, end);
        var x = shard is null ? NpyFile.Read(files[0]) : NpyFile.ReadRows(files[0], start, end);
        var y = shard is null ? yAll : yAll[(int)start..(int)end];
        var s = x.Shape;
        // Token ids, and float features or sequences that are not images: fed as they are, one sample = the dims after N.
        if (evaluator.InputType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64 || (x.DType != NpyDType.UInt8 && !(evaluator.InputDims.Count is 2 or 4 && s.Count is 3 or 4)))
            return EvaluateSamples(evaluator, x, y, files, flagNorm, o, out summary);
        if (s.Count is not (3 or 4))
            throw new InvalidDataException($"{files[0]}: images must be [N, H, W] or [N, C, H, W] with N = {yAll.Length} (labels in {files[1]}), got ({string.Join(", ", fullShape)})");
        int c = s.Count == 4 ? checked((int)s[1]) : 1, h = checked((int)s[^2]), w = checked((int)s[^1]);
        string where = $"{Describe(evaluator, o)}; {y.Length} images [{c}x{h}x{w}] from {files[0]}";
        if (x.DType == NpyDType.UInt8)
        {
            var names = NpyData.ClassNames(Math.Max(evaluator.Classes, yAll.DefaultIfEmpty(0).Max() + 1));
            var data = NpyData.Images(x, y, names, files[0]);
            var (norm, from) = Choose(flagNorm, evaluator, c);
            summary = $"{where}; normalisation {norm} ({from})";
            return evaluator.Evaluate(data, norm);
        }
        if (x.DType is not (NpyDType.Float32 or NpyDType.Float64))
            throw new InvalidDataException($"{files[0]}: images must be uint8 (normalised here) or float (fed as they are), got {x.DType}");
        if (flagNorm is not null) throw new ArgumentException($"--mean/--std apply to uint8 images; {files[0]} holds floats, fed as they are");
        summary = $"{where}; float images fed as they are (no normalisation)";
        return evaluator.Evaluate(x.ToSingleArray(), y, c, h, w);
    }

    /// <summary>The model, its input and output, and the device, as the summary line starts.</summary>
    private static string Describe(Evaluator evaluator, EvalOptions o) =>
        $"model {o.Model} ({evaluator.InputName} -> {evaluator.OutputName}, {evaluator.Classes} classes) on {o.Device}";

    /// <summary>npy samples that are not images: int64/int32 token ids for a model with an int64 input, else float features, sequences or signals.</summary>
    private static EvaluationResult EvaluateSamples(Evaluator evaluator, NpyArray x, int[] y, string[] files, Normalization? flagNorm, EvalOptions o, out string summary)
    {
        if (flagNorm is not null) throw new ArgumentException($"--mean/--std apply to uint8 images; {files[0]} holds {x.DType} samples, fed as they are");
        int[] sample = x.Shape.Skip(1).Select(d => checked((int)d)).ToArray();
        string where = $"{Describe(evaluator, o)}; {y.Length} samples [{string.Join("x", sample)}] from {files[0]}";
        if (evaluator.InputType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64)
        {
            if (x.DType is not (NpyDType.Int64 or NpyDType.Int32))
                throw new InvalidDataException($"{files[0]}: model {o.Model} takes int64 token ids (input '{evaluator.InputName}'); the file holds {x.DType}");
            summary = $"{where}; token ids";
            return evaluator.Evaluate(x.ToInt64Array(), y, sample);
        }
        if (x.DType is not (NpyDType.Float32 or NpyDType.Float64))
            throw new InvalidDataException($"{files[0]}: samples for input '{evaluator.InputName}' [{evaluator.DeclaredShape()}] must be float (fed as they are), got {x.DType}");
        summary = $"{where}; float samples fed as they are";
        return evaluator.Evaluate(x.ToSingleArray(), y, sample);
    }
}
