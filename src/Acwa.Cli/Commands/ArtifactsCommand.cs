using System.CommandLine;
using System.Globalization;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Models;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Cli.Commands;

/// <summary>Parsed options of <c>acwa artifacts</c>, independent of the command-line parser.</summary>
internal sealed record ArtifactsCommandOptions(
    string Model, string Out, string Loss = "ce", string Optimizer = "adam", float LearningRate = 1e-3f, float Momentum = 0.9f,
    float WeightDecay = 0f, bool Nesterov = false, float? ClipNorm = null, int AccumulationSteps = 1, int? NumClasses = null,
    long[]? InputShape = null, IReadOnlyList<string>? Trainable = null, IReadOnlyList<string>? Frozen = null, string Device = "cpu",
    bool PerTensorOptimizer = false, bool FrozenBatchNorm = false);

/// <summary><c>acwa artifacts</c>: compile a forward ONNX classifier into training artifacts.</summary>
internal static class ArtifactsCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Forward ONNX model (one batch input; logits [N, C] as its first output)", Required = true };
        var output = new Option<string>("--out") { Description = "Output folder for training_model.onnx, eval_model.onnx, checkpoint.acwa, inference_model.onnx, manifest.json", Required = true };
        var trainable = new Option<string?>("--trainable") { Description = "Comma-separated initializers to train, '*' as wildcard (default: all fp32 initializers except batch-norm statistics)" };
        var frozen = new Option<string?>("--frozen") { Description = "Comma-separated initializers to keep frozen, '*' as wildcard (with the default trainable set)" };
        var frozenBn = new Option<bool>("--frozen-bn") { Description = "Batch-norm layers whose scale and bias are frozen run in inference mode (running statistics as constants, not updated)" };
        var loss = new Option<string>("--loss") { Description = "Loss: ce (weighted cross-entropy) | focal[:gamma=2] | ldam[:s=30] | la[:tau=1] (logit adjustment; tau 1 = balanced softmax).", DefaultValueFactory = _ => "ce" };
        loss.AcceptOnlyFromAmong([.. TrainingNames.Losses]);
        var optimizer = new Option<string>("--optimizer") { Description = "Optimizer: adam, adamw, sgd", DefaultValueFactory = _ => "adam" };
        optimizer.AcceptOnlyFromAmong([.. TrainingNames.Optimizers]);
        var lr = new Option<float>("--lr") { Description = "Default learning rate (a graph input; the trainer may schedule it)", DefaultValueFactory = _ => 1e-3f };
        var momentum = new Option<float>("--momentum") { Description = "SGD momentum (as acwa train; 0 turns the momentum buffer off; ignored by adam/adamw)", DefaultValueFactory = _ => 0.9f };
        var wd = new Option<float>("--weight-decay") { Description = "Weight decay (L2 for sgd/adam, decoupled for adamw)", DefaultValueFactory = _ => 0f };
        var nesterov = new Option<bool>("--nesterov") { Description = "Nesterov momentum (sgd)" };
        var clip = new Option<float?>("--clip-norm") { Description = "Global gradient-norm clipping threshold (default: none)" };
        var accumulate = new Option<int>("--accumulate") { Description = "Micro-batches per optimizer step (gradient accumulation)", DefaultValueFactory = _ => 1 };
        var classes = new Option<int?>("--num-classes") { Description = "Number of classes (default: from the logits output's shape)" };
        var shape = new Option<string?>("--input-shape") { Description = "Input shape without the batch, e.g. 1,28,28 (default: from the model's input)" };
        var device = new Option<string>("--device") { Description = "Device the gradient decompositions are chosen for: cpu or cuda", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var perTensor = new Option<bool>("--per-tensor-optimizer") { Description = "One optimizer update (and state) per parameter tensor instead of one fused update over all parameters" };
        var cmd = new Command("artifacts", "Compile a forward ONNX classifier into training, eval and inference graphs, an initial checkpoint and a manifest.")
        {
            model, output, trainable, frozen, frozenBn, loss, optimizer, lr, momentum, wd, nesterov, clip, accumulate, classes, shape, device, perTensor,
        };
        cmd.SetAction(r =>
        {
            ArtifactsCommandOptions o;
            try
            {
                o = new ArtifactsCommandOptions(
                    r.GetValue(model)!, r.GetValue(output)!, r.GetValue(loss)!, r.GetValue(optimizer)!, r.GetValue(lr), r.GetValue(momentum),
                    r.GetValue(wd), r.GetValue(nesterov), r.GetValue(clip), r.GetValue(accumulate), r.GetValue(classes),
                    ParseShape(r.GetValue(shape)), SplitList(r.GetValue(trainable)), SplitList(r.GetValue(frozen)), r.GetValue(device)!, r.GetValue(perTensor), r.GetValue(frozenBn));
            }
            catch (FormatException e)
            {
                r.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            return Execute(o, r.InvocationConfiguration.Output, r.InvocationConfiguration.Error);
        });
        return cmd;
    }

    /// <summary>Runs the command; returns 0 on success, 1 when the model or options are rejected (message on <paramref name="error"/>).</summary>
    public static int Execute(ArtifactsCommandOptions o, TextWriter output, TextWriter error)
    {
        try
        {
            var forward = OnnxModel.Load(o.Model);
            var options = ToArtifactOptions(o);
            var set = ModelCatalog.Compile(forward, options, o.Model);
            TrainingArtifacts.Write(set, o.Out);
            var m = set.Manifest;
            output.WriteLine($"wrote artifacts to {Path.GetFullPath(o.Out)}: {m.NumClasses} classes, loss {m.Loss}, optimizer {m.Optimizer}, " +
                $"{m.State.Count(s => s.Kind == Acwa.Onnx.Training.StateKind.Parameter)} trainable tensors, {m.State.Count} state tensors, {m.Controls.Count} controls");
            if (forward.Graph.Output.Count > 1)
                output.WriteLine($"note: {o.Model} has {forward.Graph.Output.Count} outputs; its first, '{forward.Graph.Output[0].Name}', is trained as the logits " +
                    $"and the others ({string.Join(", ", forward.Graph.Output.Skip(1).Select(v => $"'{v.Name}'"))}) are not used");
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
        {
            error.WriteLine($"error: {OptionHints.WithFlags(e.Message)}");
            return 1;
        }
    }

    public static ArtifactOptions ToArtifactOptions(ArtifactsCommandOptions o)
    {
        var (lossKind, loss) = TrainingNames.ParseLossSpec(o.Loss);
        return ToArtifactOptions(o, lossKind, loss);
    }

    private static ArtifactOptions ToArtifactOptions(ArtifactsCommandOptions o, LossKind lossKind, LossSettings loss) => new()
    {
        Loss = lossKind,
        FocalGamma = (float)loss.FocalGamma,
        LdamScale = (float)loss.LdamScale,
        LogitAdjustTau = (float)loss.LogitAdjustTau,
        Optimizer = TrainingNames.ParseOptimizer(o.Optimizer),
        LearningRate = o.LearningRate,
        Momentum = TrainingNames.ParseOptimizer(o.Optimizer) == OptimizerKind.Sgd ? o.Momentum : 0f, // as acwa train: momentum is SGD's
        WeightDecay = o.WeightDecay,
        Nesterov = o.Nesterov,
        ClipNorm = o.ClipNorm,
        AccumulationSteps = o.AccumulationSteps,
        NumClasses = o.NumClasses,
        InputShape = o.InputShape,
        Trainable = o.Trainable,
        Frozen = o.Frozen,
        FrozenBatchNorm = o.FrozenBatchNorm,
        Device = Device.Parse(o.Device),
        FusedOptimizer = !o.PerTensorOptimizer,
    };

    internal static IReadOnlyList<string>? SplitList(string? s) =>
        s is null ? null : s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    internal static long[]? ParseShape(string? s)
    {
        if (s is null) return null;
        var parts = s.Split(',', StringSplitOptions.TrimEntries);
        var dims = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out dims[i]) || dims[i] <= 0)
                throw new FormatException($"--input-shape '{s}': dim {i} ('{parts[i]}') is not a positive integer");
        return dims;
    }
}
