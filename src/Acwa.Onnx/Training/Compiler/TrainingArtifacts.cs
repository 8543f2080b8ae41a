using System.Text.Json.Nodes;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>
/// Compiles a forward classifier into an artifact set: training-step graph, eval graph, initial checkpoint, inference
/// model and manifest (layout in docs/training-graphs.md). Output is deterministic: the same model and options give
/// byte-identical files.
/// </summary>
public static class TrainingArtifacts
{
    /// <summary>Builds the artifact set in memory. <paramref name="forward"/> is not modified.</summary>
    /// <exception cref="ArgumentException">Bad options or a model the compiler cannot use; the message names what is wrong.</exception>
    /// <exception cref="NotSupportedException">An op on a trainable path has no gradient rule.</exception>
    /// <exception cref="InvalidOperationException">With <see cref="ArtifactOptions.Device"/> "cuda": a compiled graph does shape
    /// arithmetic on the host (nodes ONNX Runtime would run on the CPU EP); the message names the nodes.</exception>
    public static ArtifactSet Compile(ModelProto forward, ArtifactOptions options) => Compile(forward, options, exposeGradients: false);

    /// <summary>
    /// Drops constants that no node reads (left behind when a gradient rule picks another form): ORT would remove them
    /// with a warning at every session start.
    /// </summary>
    internal static void RemoveUnusedInitializers(Graphs.Proto.GraphProto g)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in g.Node) foreach (var i in n.Input) used.Add(i);
        foreach (var o in g.Output) used.Add(o.Name);
        for (int i = g.Initializer.Count - 1; i >= 0; i--)
            if (!used.Contains(g.Initializer[i].Name)) g.Initializer.RemoveAt(i);
    }

    internal static ArtifactSet Compile(ModelProto forward, ArtifactOptions options, bool exposeGradients)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(options);
        var info = ForwardModelInfo.Analyze(forward, options);
        // The step graph's TrainingRewrite adds entries to the shape table; the eval graph does not read it.
        var step = StepGraph.Build(forward, info, options, exposeGradients);
        var eval = EvalGraph.Build(forward, info, options, step.Labels);
        RemoveUnusedInitializers(step.Model.Graph);
        RemoveUnusedInitializers(eval.Model.Graph);
        if (options.Device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase))
        {
            DevicePlacementCheck.EnsureNoHostShapeArithmetic(step.Model, "training graph");
            DevicePlacementCheck.EnsureNoHostShapeArithmetic(eval.Model, "eval graph");
        }

        var initial = new List<HostTensor>();
        foreach (var s in step.State)
            initial.Add(s.Kind == StateKind.Optimizer
                ? HostTensor.Of(s.Name, s.Shape, new float[Tensors.ElementCount(s.Shape)])
                : ForwardModelInfo.InitializerValue(forward.Graph, s.Name));
        var inference = InferenceExport.Build(forward, [], options.ClassNames, info.NumClasses);

        var manifest = new ArtifactManifest
        {
            NumClasses = info.NumClasses,
            InputName = info.Input,
            InputShape = info.InputShape,
            LabelName = step.Labels,
            LossOutput = step.Loss,
            LogitsOutput = step.Logits,
            PredictionsOutput = step.Predictions,
            EvalLogitsOutput = eval.Logits,
            EvalConfusionOutput = eval.Confusion,
            Loss = LossName(options.Loss),
            Optimizer = options.Optimizer.ToString().ToLowerInvariant(),
            State = step.State,
            Controls = step.Controls,
            EvalStateInputs = eval.StateInputs,
            DropoutMasks = step.Masks,
            Hyperparameters = Hyper(options),
        };
        if (eval.Predictions != step.Predictions)
            throw new InvalidOperationException($"eval predictions output '{eval.Predictions}' differs from the training graph's '{step.Predictions}'");
        var meta = new JsonObject
        {
            ["format"] = "acwa-checkpoint/1",
            ["step"] = 0,
            ["loss"] = manifest.Loss,
            ["optimizer"] = manifest.Optimizer,
            ["num_classes"] = info.NumClasses,
        };
        return new ArtifactSet(step.Model, eval.Model, inference, manifest, initial, meta);
    }

    /// <summary>
    /// Compiles and writes training_model.onnx, eval_model.onnx, checkpoint.acwa, inference_model.onnx and manifest.json
    /// into <paramref name="outDir"/> (created if missing; existing files of those names are replaced atomically).
    /// </summary>
    /// <returns>The manifest that was written.</returns>
    public static ArtifactManifest Generate(ModelProto forward, ArtifactOptions options, string outDir)
    {
        var set = Compile(forward, options);
        Write(set, outDir);
        return set.Manifest;
    }

    /// <summary>Writes an artifact set's files into <paramref name="outDir"/>.</summary>
    public static void Write(ArtifactSet set, string outDir)
    {
        ArgumentNullException.ThrowIfNull(set);
        Directory.CreateDirectory(outDir);
        var m = set.Manifest;
        OnnxModel.Save(set.TrainingModel, Path.Combine(outDir, m.TrainingModel));
        OnnxModel.Save(set.EvalModel, Path.Combine(outDir, m.EvalModel));
        OnnxModel.Save(set.InferenceModel, Path.Combine(outDir, m.InferenceModel));
        TensorFile.Save(Path.Combine(outDir, m.InitialState), set.InitialState, set.StateMeta);
        m.Save(Path.Combine(outDir, "manifest.json"));
    }

    /// <summary>The manifest's loss name: ce, focal, ldam or logit-adjusted.</summary>
    public static string LossName(LossKind k) => k switch
    {
        LossKind.CrossEntropy => "ce",
        LossKind.Focal => "focal",
        LossKind.Ldam => "ldam",
        LossKind.LogitAdjusted => "logit-adjusted",
        _ => throw new ArgumentOutOfRangeException(nameof(k), k, "unknown loss"),
    };

    private static SortedDictionary<string, double> Hyper(ArtifactOptions o)
    {
        var h = new SortedDictionary<string, double>(StringComparer.Ordinal)
        {
            ["weight_decay"] = o.WeightDecay,
            ["accumulation_steps"] = o.AccumulationSteps,
        };
        if (o.Optimizer == OptimizerKind.Sgd)
        {
            h["momentum"] = o.Momentum;
            h["dampening"] = o.Dampening;
            h["nesterov"] = o.Nesterov ? 1 : 0;
        }
        else
        {
            h["beta1"] = o.Beta1;
            h["beta2"] = o.Beta2;
            h["eps"] = o.Epsilon;
        }
        return h;
    }
}
