using System.Text.Json.Nodes;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.IO;

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
    /// <exception cref="NotSupportedException">With <see cref="ArtifactOptions.Device"/> "cuda": a compiled graph does shape
    /// arithmetic on the host (nodes ONNX Runtime would run on the CPU EP); the message names the nodes.</exception>
    public static ArtifactSet Compile(ModelProto forward, ArtifactOptions options) => Compile(forward, options, exposeGradients: false);

    /// <summary>
    /// Removes the Identity nodes that only give a computed value its graph-output name (<c>P.next</c>, <c>loss</c>, ...):
    /// the producing node writes the output name directly instead. ORT keeps such Identities and runs each as a copy (a
    /// kernel launch on CUDA; ResNet-32's step had ~350). An Identity stays when its input is a graph input, an initializer or
    /// itself a graph output, or when another Identity already took the value; graphs with subgraph attributes are left alone.
    /// </summary>
    internal static void ElideOutputIdentities(GraphProto g)
    {
        if (g.Node.Any(n => n.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0))) return;
        var outputs = new HashSet<string>(g.Output.Select(o => o.Name), StringComparer.Ordinal);
        var external = new HashSet<string>(g.Input.Select(i => i.Name).Concat(g.Initializer.Select(t => t.Name)), StringComparer.Ordinal);
        var produced = new HashSet<string>(g.Node.SelectMany(n => n.Output), StringComparer.Ordinal);
        var rename = new Dictionary<string, string>(StringComparer.Ordinal);
        var drop = new HashSet<NodeProto>();
        foreach (var n in g.Node)
        {
            if (n.OpType != "Identity" || n.Domain.Length > 0 || n.Input.Count != 1 || n.Output.Count != 1) continue;
            string v = n.Input[0], o = n.Output[0];
            if (!outputs.Contains(o) || outputs.Contains(v) || external.Contains(v) || !produced.Contains(v) || rename.ContainsKey(v)) continue;
            rename[v] = o;
            drop.Add(n);
        }
        if (rename.Count == 0) return;
        for (int i = g.Node.Count - 1; i >= 0; i--)
            if (drop.Contains(g.Node[i])) g.Node.RemoveAt(i);
        foreach (var n in g.Node)
        {
            for (int i = 0; i < n.Input.Count; i++) if (rename.TryGetValue(n.Input[i], out var r)) n.Input[i] = r;
            for (int i = 0; i < n.Output.Count; i++) if (rename.TryGetValue(n.Output[i], out var r)) n.Output[i] = r;
        }
        for (int i = g.ValueInfo.Count - 1; i >= 0; i--)
            if (rename.ContainsKey(g.ValueInfo[i].Name)) g.ValueInfo.RemoveAt(i);
    }

    /// <summary>
    /// The checks of <paramref name="o"/> that do not depend on a model (run first by <see cref="Compile(ModelProto, ArtifactOptions)"/>),
    /// so that callers can tell bad options from a bad model.
    /// </summary>
    /// <exception cref="ArgumentException">The message names the option.</exception>
    internal static void ValidateOptions(ArtifactOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.Trainable is not null && o.Frozen is not null)
            throw new ArgumentException("give either the trainable initializers (ArtifactOptions.Trainable) or the frozen ones (Frozen), not both");
        if (o.AccumulationSteps < 1) throw new ArgumentException($"accumulation steps must be >= 1 (got {o.AccumulationSteps})");
        if (o.ClipNorm is { } clip && !(clip > 0)) throw new ArgumentException($"clip norm must be > 0 (got {clip})");
        if (o.SplitStep && o.AccumulationSteps > 1)
            throw new ArgumentException($"ArtifactOptions.SplitStep cannot be combined with AccumulationSteps > 1 (got {o.AccumulationSteps}): "
                + "a split step applies the gradient it is given; accumulate by adding ComputeGradients' gradients before ApplyGradients");
        Optimizers.OptimizerFragment.Validate(o);
    }

    internal static ArtifactSet Compile(ModelProto forward, ArtifactOptions options, bool exposeGradients)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ValidateOptions(options);
        forward = InitializerUntying.Apply(forward);
        // The model in inference form is the source of every graph: the eval graph and the export evaluate with running
        // statistics and without dropout, and the step graph's TrainingRewrite puts batch norm and dropout into their
        // training forms itself (a training-mode export, torch.onnx's TrainingMode.TRAINING, arrives in training form).
        forward = InferenceMode.Apply(forward, out _);
        var info = ForwardModelInfo.Analyze(forward, options);
        // The step graph's rewrites add entries to the shape table; the eval graph's (depthwise, and on CUDA recurrent unrolling) add theirs once the step graph is complete.
        var step = StepGraph.Build(forward, info, options, exposeGradients);
        var eval = EvalGraph.Build(forward, info, options, step.Labels);
        ElideOutputIdentities(step.Model.Graph);
        ElideOutputIdentities(eval.Model.Graph);
        bool cuda = options.IsCuda;
        // Faster on CUDA (docs/gpu.md), more accurate on the CPU at the same speed (see ArtifactOptions.SplitBatchReductions).
        if (options.SplitBatchReductions ?? true)
        {
            BatchAxisReductionSplitting.Apply(step.Model.Graph);
            BatchAxisReductionSplitting.Apply(eval.Model.Graph);
        }
        if (cuda)
        {
            // The fused optimizer and running-statistics updates concatenate ~100 tensors: too wide for a CUDA graph capture.
            WideNodeSplitting.Apply(step.Model.Graph);
            WideNodeSplitting.Apply(eval.Model.Graph);
        }
        // Nodes and constants left unread (a gradient rule that picked another form, a Dropout replaced by its mask
        // product): ORT would remove them with a warning at every session start.
        GraphPruning.RemoveUnread(step.Model.Graph);
        GraphPruning.RemoveUnread(eval.Model.Graph);
        if (cuda)
        {
            DevicePlacementCheck.EnsureNoHostShapeArithmetic(step.Model, "training graph");
            DevicePlacementCheck.EnsureNoHostShapeArithmetic(eval.Model, "eval graph");
        }

        (ModelProto Gradients, ModelProto Update, SplitStepManifest Manifest)? split = options.SplitStep ? CompileSplit(forward, options, step) : null;

        var initial = new List<HostTensor>();
        foreach (var s in step.State)
            initial.Add(s.Kind == StateKind.Optimizer
                ? HostTensor.Of(s.Name, s.Shape, new float[Tensors.ElementCount(s.Shape)])
                : ForwardModelInfo.InitializerValue(forward.Graph, s.Name));
        var inference = InferenceExport.Build(forward, [], options.ClassNames, info.NumClasses);
        GraphPruning.RemoveUnread(inference.Graph);

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
            SplitStep = split?.Manifest,
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
        return new ArtifactSet(step.Model, eval.Model, inference, manifest, initial, meta)
        {
            GradientsModel = split?.Gradients,
            UpdateModel = split?.Update,
        };
    }

    /// <summary>
    /// The split step's gradients and update graphs (<see cref="ArtifactOptions.SplitStep"/>), post-processed like the step
    /// graph, and checked to read and write the step graph's state, control and mask names (the runtime feeds all graphs
    /// from the same tensors).
    /// </summary>
    private static (ModelProto Gradients, ModelProto Update, SplitStepManifest Manifest) CompileSplit(ModelProto forward, ArtifactOptions options, StepGraph step)
    {
        // A fresh analysis: the step graph's lowerings added their values to the first one's shape table.
        var info = ForwardModelInfo.Analyze(forward, options);
        var grads = StepGraph.BuildGradients(forward, info, options);
        var paramDims = grads.State.Where(s => s.Kind == StateKind.Parameter).ToDictionary(s => s.Name, s => s.Shape, StringComparer.Ordinal);
        var update = StepGraph.BuildUpdate(forward, info, options, paramDims);
        foreach (var m in new[] { grads.Model, update.Model })
        {
            ElideOutputIdentities(m.Graph);
            if (options.SplitBatchReductions ?? true) BatchAxisReductionSplitting.Apply(m.Graph);
            if (options.IsCuda) WideNodeSplitting.Apply(m.Graph);
            GraphPruning.RemoveUnread(m.Graph);
        }
        if (options.IsCuda)
        {
            DevicePlacementCheck.EnsureNoHostShapeArithmetic(grads.Model, "gradients graph");
            DevicePlacementCheck.EnsureNoHostShapeArithmetic(update.Model, "update graph");
        }

        var byName = step.State.ToDictionary(s => s.Name, StringComparer.Ordinal);
        void SameState(StateTensor s, bool inputOnly, string graph)
        {
            if (!byName.TryGetValue(s.Name, out var t) || t.Kind != s.Kind || t.Input != s.Input || (!inputOnly && t.Output != s.Output) || !t.Shape.SequenceEqual(s.Shape))
                throw new InvalidOperationException($"the {graph} graph's state '{s.Name}' ({s.Input} -> {s.Output}) does not match the training graph's");
        }
        foreach (var s in grads.State) SameState(s, s.Kind == StateKind.Parameter, "gradients");
        foreach (var s in update.State) SameState(s, false, "update");
        var missing = step.State.Where(s => s.Kind != StateKind.Buffer && !update.State.Any(u => u.Name == s.Name)).Select(s => s.Name).ToList();
        if (missing.Count > 0) throw new InvalidOperationException($"the update graph does not update {string.Join(", ", missing)}");
        var controls = step.Controls.ToDictionary(c => c.Name, StringComparer.Ordinal);
        void SameControl(ControlInput c, string graph)
        {
            if (!controls.TryGetValue(c.Name, out var t) || t.Role != c.Role)
                throw new InvalidOperationException($"the {graph} graph's control '{c.Name}' (role {c.Role}) is not a control of the training graph");
        }
        foreach (var c in grads.Controls) SameControl(c, "gradients");
        foreach (var c in update.Controls.Where(c => c.Role != ControlRoles.GradScale)) SameControl(c, "update");
        if (grads.Masks.Count != step.Masks.Count || grads.Masks.Zip(step.Masks).Any(p => p.First.Name != p.Second.Name || !p.First.Shape.SequenceEqual(p.Second.Shape) || p.First.Ratio != p.Second.Ratio))
            throw new InvalidOperationException("the gradients graph's dropout masks differ from the training graph's");
        if (grads.Labels != step.Labels || grads.Loss != step.Loss || grads.Predictions != step.Predictions)
            throw new InvalidOperationException("the gradients graph's label, loss or predictions names differ from the training graph's");

        var manifest = new SplitStepManifest
        {
            GradientLength = grads.GradientLength,
            GradientOutput = grads.Gradient,
            LossSumOutput = grads.LossSum,
            NormalizerOutput = grads.Normalizer,
            GradientsControls = grads.Controls.Select(c => c.Name).ToList(),
            GradientInput = update.Gradient,
            GradScaleInput = update.GradScale,
            UpdateControls = update.Controls.Where(c => c.Role != ControlRoles.GradScale).Select(c => c.Name).ToList(),
        };
        return (grads.Model, update.Model, manifest);
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

    /// <summary>
    /// Writes an artifact set's files into <paramref name="outDir"/>. Each file is replaced atomically; the old manifest is
    /// removed first and the new one written last, so a write that fails half way leaves a folder without manifest.json
    /// (which <see cref="Runtime.StepRunner"/> refuses), never an old manifest beside new graphs.
    /// </summary>
    /// <exception cref="IOException">The folder cannot be created or a file cannot be written; the message names it.</exception>
    public static void Write(ArtifactSet set, string outDir)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(outDir);
        if (File.Exists(outDir)) throw new IOException($"artifact folder '{outDir}' is a file");
        try { Directory.CreateDirectory(outDir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot create artifact folder '{outDir}': {e.Message}", e);
        }
        var manifestPath = Path.Combine(outDir, "manifest.json");
        if (Directory.Exists(manifestPath)) throw new IOException($"cannot write '{manifestPath}': it is a folder");
        File.Delete(manifestPath);
        var m = set.Manifest;
        OnnxModel.Save(set.TrainingModel, Path.Combine(outDir, m.TrainingModel));
        OnnxModel.Save(set.EvalModel, Path.Combine(outDir, m.EvalModel));
        OnnxModel.Save(set.InferenceModel, Path.Combine(outDir, m.InferenceModel));
        if (m.SplitStep is { } split)
        {
            if (set.GradientsModel is null || set.UpdateModel is null)
                throw new ArgumentException("the manifest names a split step but the artifact set has no gradients or update graph", nameof(set));
            OnnxModel.Save(set.GradientsModel, Path.Combine(outDir, split.GradientsModel));
            OnnxModel.Save(set.UpdateModel, Path.Combine(outDir, split.UpdateModel));
        }
        TensorFile.Save(Path.Combine(outDir, m.InitialState), set.InitialState, set.StateMeta);
        m.Save(manifestPath);
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
        if (o.FrozenBatchNorm) h["frozen_batch_norm"] = 1;
        return h;
    }
}
