using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Training.Compiler.Losses;
using Acwa.Onnx.Training.Compiler.Optimizers;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>A compiled training-step graph and the names the manifest needs.</summary>
internal sealed record StepGraph(ModelProto Model, string Labels, string Loss, string Logits, string Predictions,
    List<StateTensor> State, List<ControlInput> Controls, List<MaskInput> Masks, IReadOnlyDictionary<string, string> GradientOutputs)
{
    /// <summary>
    /// forward -> computed Reshape shapes folded to constants (<see cref="ForwardShapeFolding"/>) -> 1-D convolutions and
    /// poolings as 2-D ones (<see cref="Conv1dLowering"/>), Instance- and GroupNormalization as LayerNormalization (<see cref="NormalizationLowering"/>), LSTM and GRU unrolled over time (<see cref="RecurrentLowering"/>), small depthwise convolutions as MatMuls on the CPU -> TrainingRewrite (BN on batch statistics, Dropout masks) -> loss fragment on the logits ->
    /// ReverseMode with seeds {logits: dLogits} -> [accumulation] -> [global-norm clipping] -> optimizer per parameter.
    /// Trainable parameters and buffers become graph inputs under their initializer names; their next values, the optimizer
    /// state and the loss, logits and predictions are outputs. With <paramref name="exposeGradients"/> every parameter's raw
    /// gradient is also an output (<c>grad.NAME</c>; for tests).
    /// </summary>
    public static StepGraph Build(ModelProto forward, ForwardModelInfo info, ArtifactOptions o, bool exposeGradients = false)
    {
        var f = Front(forward, info, o, "acwa_training_step", sumForm: false);
        var (model, b, paramDims, bufferDims, rewrite, labels, loss, lossOut, predictions, grads) =
            (f.Model, f.B, f.ParamDims, f.BufferDims, f.Rewrite, f.Labels, f.Loss, f.LossOut, f.Predictions, f.Grads);
        var controls = new List<ControlInput>(loss.Controls);
        var gradOutputs = new Dictionary<string, string>(StringComparer.Ordinal);
        if (exposeGradients)
            foreach (var p in info.Trainable)
                gradOutputs[p] = GraphOps.OutputUnique(b, grads[p], "grad." + p, ElementType.Float, paramDims[p].Select(d => (long?)d).ToArray());

        var reg = new StateRegistry(b);
        foreach (var p in info.Trainable) reg.Adopt(p, StateKind.Parameter, paramDims[p]);
        foreach (var buf in info.Buffers) reg.Adopt(buf, StateKind.Buffer, bufferDims[buf]);

        var optControls = OptimizerFragment.DeclareControls(b, o, controls);
        if (o.FusedOptimizer && info.Trainable.Count > 1)
            AppendFusedUpdate(b, o, optControls, controls, reg, info.Trainable, paramDims, grads);
        else
            AppendPerTensorUpdate(b, o, optControls, controls, reg, info.Trainable, paramDims, grads);

        BindBuffers(reg, info, rewrite);
        var masks = rewrite.DropoutMasks.Select(m => new MaskInput(m.Name, m.Dims, m.Ratio)).ToList();
        return new StepGraph(model, labels, lossOut, info.Logits, predictions, reg.Ordered(), controls, masks, gradOutputs);
    }

    private sealed record FrontPart(ModelProto Model, GraphBuilder B, Dictionary<string, long[]> ParamDims, Dictionary<string, long[]> BufferDims,
        TrainingRewriteResult Rewrite, string Labels, LossGraph Loss, string LossOut, string Predictions, IReadOnlyDictionary<string, string> Grads);

    /// <summary>Everything up to the gradients: the forward in training form, the loss, its outputs and the reverse pass.</summary>
    private static FrontPart Front(ModelProto forward, ForwardModelInfo info, ArtifactOptions o, string name, bool sumForm)
    {
        var model = forward.Clone();
        var g = model.Graph;
        g.Name = name;
        ForwardShapeFolding.FoldForward(g, info, o.IsCuda);
        var paramDims = ForwardModelInfo.LiftToInputs(g, info.Trainable);
        var bufferDims = ForwardModelInfo.LiftToInputs(g, info.Buffers);
        g.Output.Clear();
        var b = new GraphBuilder(g);
        var shapes = info.Shapes;

        var gradientOptions = o.ResolvedGradients;
        Conv1dLowering.Apply(b, shapes);
        NormalizationLowering.Apply(b, shapes, Opset(forward));
        RecurrentLowering.Apply(b, shapes, gradientOptions.ResolvedFusedRecurrent ? n => !GradientRules.RecurrentRuleTakes(n) : null);
        DepthwiseLowering.Apply(b, shapes, gradientOptions.ResolvedDenseDepthwiseMaxPairs);
        var rewrite = TrainingRewrite.Rewrite(b, shapes, new TrainingRewriteOptions { Opset = Opset(forward), InferenceBatchNorms = info.InferenceBatchNorms });
        var labels = GraphOps.InputUnique(b, "y", ElementType.Int64, [null]);
        var loss = LossFragment.Append(b, o, info.Logits, labels, info.NumClasses, sumForm);

        var lossOut = GraphOps.OutputUnique(b, loss.Loss, "loss", ElementType.Float);
        b.Output(info.Logits, ElementType.Float, null, info.NumClasses);
        var predictions = GraphOps.OutputUnique(b, ArgMax(b, info.Logits), "predictions", ElementType.Int64, [null]);

        var dLogits = FlushTiny(b, loss.DLogits, o.FlushGradientsBelow);
        var grads = ReverseMode.Differentiate(b, new Dictionary<string, string>(StringComparer.Ordinal) { [info.Logits] = dLogits },
            info.Trainable, shapes, gradientOptions);
        return new FrontPart(model, b, paramDims, bufferDims, rewrite, labels, loss, lossOut, predictions, grads);
    }

    private static void BindBuffers(StateRegistry reg, ForwardModelInfo info, TrainingRewriteResult rewrite)
    {
        foreach (var buf in info.Buffers)
        {
            if (!rewrite.RunningStatistics.TryGetValue(buf, out var next))
                throw new NotSupportedException($"buffer '{buf}' got no updated value from TrainingRewrite");
            reg.Bind(buf, next);
        }
    }

    /// <summary>Graph names of the split step's gradients graph (see <see cref="BuildGradients"/>).</summary>
    internal sealed record GradientsGraph(ModelProto Model, string Labels, string Loss, string Predictions, string Gradient,
        string LossSum, string Normalizer, long GradientLength, List<StateTensor> State, List<ControlInput> Controls, List<MaskInput> Masks);

    /// <summary>
    /// The split step's first half: the same forward in training form, loss and reverse pass as <see cref="Build"/>, seeded
    /// with the gradient of the weighted loss SUM S (<see cref="LossFragment.Append"/>'s sum form). Outputs: the loss (S / Z),
    /// logits, predictions, <c>gradient</c> (dS/dtheta, every trainable parameter flattened and concatenated in manifest
    /// order, fp32 [P]), <c>loss_sum</c> (S), <c>loss_normalizer</c> (Z) and the buffers' next values (<c>NAME.next</c>).
    /// State (parameters and buffers) reads the same input names as the step graph.
    /// </summary>
    public static GradientsGraph BuildGradients(ModelProto forward, ForwardModelInfo info, ArtifactOptions o)
    {
        var f = Front(forward, info, o, "acwa_gradients", sumForm: true);
        var b = f.B;
        var g = new GraphOps(b);
        var sizes = info.Trainable.Select(p => Graphs.Tensors.ElementCount(f.ParamDims[p])).ToArray();
        long total = sizes.Sum();
        var flat = b.Op("Concat", info.Trainable.Zip(sizes, (p, n) => b.Op("Reshape", [f.Grads[p], g.Axes([n])])).ToArray(), Attr.Int("axis", 0));
        var gradient = GraphOps.OutputUnique(b, flat, "gradient", ElementType.Float, [total]);
        var lossSum = GraphOps.OutputUnique(b, f.Loss.LossSum!, "loss_sum", ElementType.Float);
        var normalizer = GraphOps.OutputUnique(b, f.Loss.Normalizer!, "loss_normalizer", ElementType.Float);

        var reg = new StateRegistry(b);
        foreach (var buf in info.Buffers) reg.Adopt(buf, StateKind.Buffer, f.BufferDims[buf]);
        BindBuffers(reg, info, f.Rewrite);
        var state = info.Trainable.Select(p => new StateTensor(p, StateKind.Parameter, f.ParamDims[p], p, "")).Concat(reg.Ordered()).ToList();
        var masks = f.Rewrite.DropoutMasks.Select(m => new MaskInput(m.Name, m.Dims, m.Ratio)).ToList();
        return new GradientsGraph(f.Model, f.Labels, f.LossOut, f.Predictions, gradient, lossSum, normalizer, total, state,
            [.. f.Loss.Controls], masks);
    }

    /// <summary>Graph names of the split step's update graph (see <see cref="BuildUpdate"/>).</summary>
    internal sealed record UpdateGraph(ModelProto Model, string Gradient, string GradScale, long GradientLength,
        List<StateTensor> State, List<ControlInput> Controls);

    /// <summary>
    /// The split step's second half: parameters and optimizer state in (the step graph's input names), a flat fp32 gradient
    /// <c>gradient</c> [P] (manifest order) times the scalar control <c>grad_scale</c> (role <see cref="ControlRoles.GradScale"/>),
    /// then [global-norm clipping] and the optimizer, exactly as in <see cref="Build"/> (fused or per tensor as there);
    /// out: the parameters' and the optimizer state's next values.
    /// </summary>
    public static UpdateGraph BuildUpdate(ModelProto forward, ForwardModelInfo info, ArtifactOptions o, IReadOnlyDictionary<string, long[]> paramDims)
    {
        if (o.AccumulationSteps > 1) throw new ArgumentException($"a split step has no gradient accumulation (AccumulationSteps {o.AccumulationSteps})");
        var model = OnnxModel.Create(new GraphProto { Name = "acwa_update" }, Opset(forward));
        var b = new GraphBuilder(model.Graph);
        var g = new GraphOps(b);
        var trainable = info.Trainable;
        var sizes = trainable.Select(p => Graphs.Tensors.ElementCount(paramDims[p])).ToArray();
        long total = sizes.Sum();
        foreach (var p in trainable) b.Input(p, ElementType.Float, paramDims[p].Select(d => (long?)d).ToArray());
        var gradIn = GraphOps.InputUnique(b, "gradient", ElementType.Float, [total]);
        var controls = new List<ControlInput>();
        var scale = GraphOps.InputUnique(b, "grad_scale", ElementType.Float);
        controls.Add(new ControlInput(scale, [], ControlRoles.GradScale, [1f]));
        var scaled = g.Mul(gradIn, scale);

        var reg = new StateRegistry(b);
        foreach (var p in trainable) reg.Adopt(p, StateKind.Parameter, paramDims[p]);
        var optControls = OptimizerFragment.DeclareControls(b, o, controls);
        if (o.FusedOptimizer && trainable.Count > 1)
            AppendFusedUpdate(b, o, optControls, controls, reg, trainable, paramDims, null, scaled);
        else
        {
            var grads = new Dictionary<string, string>(StringComparer.Ordinal);
            var parts = trainable.Count == 1 ? [scaled] : b.OpMulti("Split", [scaled, g.Axes(sizes)], trainable.Count, Attr.Int("axis", 0));
            for (int i = 0; i < trainable.Count; i++) grads[trainable[i]] = b.Op("Reshape", [parts[i], g.Axes(paramDims[trainable[i]])]);
            AppendPerTensorUpdate(b, o, optControls, controls, reg, trainable, paramDims, grads);
        }
        return new UpdateGraph(model, gradIn, scale, total, reg.Ordered(), controls);
    }

    /// <summary>Accumulation, clipping and the optimizer per parameter tensor: state <c>P.grad_acc</c>, <c>P.adam_m</c>, ...</summary>
    private static void AppendPerTensorUpdate(GraphBuilder b, ArtifactOptions o, OptimizerControls optControls, List<ControlInput> controls,
        StateRegistry reg, IReadOnlyList<string> trainable, IReadOnlyDictionary<string, long[]> dims, IReadOnlyDictionary<string, string> grads)
    {
        var gl = trainable.Select(p => grads[p]).ToArray();
        string? apply = null;
        if (o.AccumulationSteps > 1)
            (gl, apply) = GradientTransforms.Accumulate(b, reg, controls, trainable, trainable.Select(p => dims[p]).ToArray(), gl, o.AccumulationSteps);
        if (o.ClipNorm is { } maxNorm)
            gl = GradientTransforms.Clip(b, controls, gl, maxNorm).Grads;
        for (int i = 0; i < gl.Length; i++)
            reg.Bind(trainable[i], OptimizerFragment.Update(b, o, optControls, reg, trainable[i], trainable[i], dims[trainable[i]], gl[i], apply));
    }

    /// <summary>Name prefix of the fused optimizer's state (<c>optimizer.adam_m</c>, <c>optimizer.grad_acc</c>, ...).</summary>
    public const string FusedStatePrefix = "optimizer";

    /// <summary>
    /// One update for all parameters: gradients and parameters are flattened and concatenated (manifest order) into one
    /// vector each, accumulated, clipped and updated as one tensor with one flat optimizer state per kind, and the new vector
    /// is split back into the parameters' shapes. Every element sees the same arithmetic as in the per-tensor form (same
    /// results, bit for bit, except that clipping sums the squares in one reduction); the graph has ~14 optimizer nodes
    /// instead of ~14 per parameter tensor, which matters where each node costs a kernel launch (CUDA).
    /// </summary>
    private static void AppendFusedUpdate(GraphBuilder b, ArtifactOptions o, OptimizerControls optControls, List<ControlInput> controls,
        StateRegistry reg, IReadOnlyList<string> trainable, IReadOnlyDictionary<string, long[]> dims, IReadOnlyDictionary<string, string>? grads,
        string? flatGradient = null)
    {
        var g = new GraphOps(b);
        var sizes = trainable.Select(p => Graphs.Tensors.ElementCount(dims[p])).ToArray();
        long total = sizes.Sum();
        string Flat(IEnumerable<string> values) =>
            b.Op("Concat", values.Zip(sizes, (v, n) => b.Op("Reshape", [v, g.Axes([n])])).ToArray(), Attr.Int("axis", 0));
        string[] gl = [flatGradient ?? Flat(trainable.Select(p => grads![p]))];
        long[] flatShape = [total];
        string? apply = null;
        if (o.AccumulationSteps > 1)
            (gl, apply) = GradientTransforms.Accumulate(b, reg, controls, [FusedStatePrefix], [flatShape], gl, o.AccumulationSteps);
        if (o.ClipNorm is { } maxNorm)
            gl = GradientTransforms.Clip(b, controls, gl, maxNorm).Grads;
        var theta = Flat(trainable);
        var next = OptimizerFragment.Update(b, o, optControls, reg, theta, FusedStatePrefix, flatShape, gl[0], apply);
        var parts = b.OpMulti("Split", [next, g.Axes(sizes)], trainable.Count, Attr.Int("axis", 0));
        for (int i = 0; i < trainable.Count; i++)
            reg.Bind(trainable[i], b.Op("Reshape", [parts[i], g.Axes(dims[trainable[i]])]));
    }

    /// <summary>
    /// dLogits with every element of magnitude below <paramref name="threshold"/> set to 0 (no-op for 0). Confident
    /// predictions (LDAM's scale 30 especially) give softmax gradients far below fp32's normal range; their products in the
    /// backward pass become subnormal numbers, which x86 CPUs process in microcode (measured: see docs/training-graphs.md,
    /// "Tiny loss gradients"). A gradient element below 1e-30 cannot change any sum
    /// that also holds a normal-sized contribution (fp32 keeps 24 bits), nor an optimizer step by a representable amount.
    /// </summary>
    internal static string FlushTiny(GraphBuilder b, string dLogits, float threshold)
    {
        if (!(threshold >= 0)) throw new ArgumentException($"FlushGradientsBelow must be >= 0 (got {threshold})");
        if (threshold == 0) return dLogits;
        var g = new GraphOps(b);
        var tiny = b.Op("Less", [b.Op("Abs", [dLogits]), g.K(threshold, "flush_below")]);
        return g.Where(tiny, g.K(0f, "flush_zero"), dLogits);
    }

    /// <summary>ArgMax over classes (axis 1, keepdims 0): int64 [N].</summary>
    public static string ArgMax(GraphBuilder b, string logits) =>
        b.Op("ArgMax", [logits], Attr.Int("axis", 1), Attr.Int("keepdims", 0));

    /// <summary>The default-domain opset of a model (18 when it declares none).</summary>
    public static int Opset(ModelProto m) =>
        (int)(m.OpsetImport.FirstOrDefault(x => x.Domain.Length == 0 || x.Domain == "ai.onnx")?.Version ?? OnnxModel.DefaultOpset);
}
