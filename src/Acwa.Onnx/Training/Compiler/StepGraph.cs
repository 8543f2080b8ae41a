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
    /// forward -> computed Reshape shapes folded to constants (<see cref="ForwardShapeFolding"/>) -> TrainingRewrite (BN on batch statistics, Dropout masks) -> loss fragment on the logits ->
    /// ReverseMode with seeds {logits: dLogits} -> [accumulation] -> [global-norm clipping] -> optimizer per parameter.
    /// Trainable parameters and buffers become graph inputs under their initializer names; their next values, the optimizer
    /// state and the loss, logits and predictions are outputs. With <paramref name="exposeGradients"/> every parameter's raw
    /// gradient is also an output (<c>grad.NAME</c>; for tests).
    /// </summary>
    public static StepGraph Build(ModelProto forward, ForwardModelInfo info, ArtifactOptions o, bool exposeGradients = false)
    {
        if (o.AccumulationSteps < 1) throw new ArgumentException($"accumulation steps must be >= 1 (got {o.AccumulationSteps})");
        OptimizerFragment.Validate(o);
        var model = forward.Clone();
        var g = model.Graph;
        g.Name = "acwa_training_step";
        ForwardShapeFolding.FoldReshapeShapes(g, info.Shapes, info.Trainable.Concat(info.Buffers).ToList());
        var paramDims = ForwardModelInfo.LiftToInputs(g, info.Trainable);
        var bufferDims = ForwardModelInfo.LiftToInputs(g, info.Buffers);
        g.Output.Clear();
        var b = new GraphBuilder(g);
        var shapes = info.Shapes;

        var rewrite = TrainingRewrite.Rewrite(b, shapes, new TrainingRewriteOptions { Opset = Opset(forward) });
        var labels = GraphOps.InputUnique(b, "y", ElementType.Int64, [null]);
        var controls = new List<ControlInput>();
        var loss = LossFragment.Append(b, o, info.Logits, labels, info.NumClasses);
        controls.AddRange(loss.Controls);

        var lossOut = GraphOps.OutputUnique(b, loss.Loss, "loss", ElementType.Float);
        b.Output(info.Logits, ElementType.Float, null, info.NumClasses);
        var predictions = GraphOps.OutputUnique(b, ArgMax(b, info.Logits), "predictions", ElementType.Int64, [null]);

        var grads = ReverseMode.Differentiate(b, new Dictionary<string, string>(StringComparer.Ordinal) { [info.Logits] = loss.DLogits },
            info.Trainable, shapes, new GradientOptions { Device = o.Device });
        var gradOutputs = new Dictionary<string, string>(StringComparer.Ordinal);
        if (exposeGradients)
            foreach (var p in info.Trainable)
                gradOutputs[p] = GraphOps.OutputUnique(b, grads[p], "grad." + p, ElementType.Float, paramDims[p].Select(d => (long?)d).ToArray());

        var reg = new StateRegistry(b);
        foreach (var p in info.Trainable) reg.Adopt(p, StateKind.Parameter, paramDims[p]);
        foreach (var buf in info.Buffers) reg.Adopt(buf, StateKind.Buffer, bufferDims[buf]);

        var optControls = OptimizerFragment.DeclareControls(b, o, controls);
        var gl = info.Trainable.Select(p => grads[p]).ToArray();
        string? apply = null;
        if (o.AccumulationSteps > 1)
            (gl, apply) = GradientTransforms.Accumulate(b, reg, controls, info.Trainable, info.Trainable.Select(p => paramDims[p]).ToArray(), gl, o.AccumulationSteps);
        if (o.ClipNorm is { } maxNorm)
            gl = GradientTransforms.Clip(b, controls, gl, maxNorm).Grads;
        for (int i = 0; i < gl.Length; i++)
            OptimizerFragment.Append(b, o, optControls, reg, info.Trainable[i], paramDims[info.Trainable[i]], gl[i], apply);

        foreach (var buf in info.Buffers)
        {
            if (!rewrite.RunningStatistics.TryGetValue(buf, out var next))
                throw new NotSupportedException($"buffer '{buf}' got no updated value from TrainingRewrite");
            reg.Bind(buf, next);
        }
        var masks = rewrite.DropoutMasks.Select(m => new MaskInput(m.Name, m.Dims, m.Ratio)).ToList();
        return new StepGraph(model, labels, lossOut, info.Logits, predictions, reg.Ordered(), controls, masks, gradOutputs);
    }

    /// <summary>ArgMax over classes (axis 1, keepdims 0): int64 [N].</summary>
    public static string ArgMax(GraphBuilder b, string logits) =>
        b.Op("ArgMax", [logits], Attr.Int("axis", 1), Attr.Int("keepdims", 0));

    /// <summary>The default-domain opset of a model (18 when it declares none).</summary>
    public static int Opset(ModelProto m) =>
        (int)(m.OpsetImport.FirstOrDefault(x => x.Domain.Length == 0 || x.Domain == "ai.onnx")?.Version ?? OnnxModel.DefaultOpset);
}
