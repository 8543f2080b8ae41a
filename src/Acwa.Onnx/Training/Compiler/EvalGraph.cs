using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Training.Compiler.Losses;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>A compiled evaluation graph and its output names.</summary>
internal sealed record EvalGraph(ModelProto Model, string Logits, string Predictions, string Confusion, List<string> StateInputs)
{
    /// <summary>
    /// The forward graph (computed Reshape shapes folded to constants, <see cref="ForwardShapeFolding"/>) in inference mode with trainable parameters and buffers as inputs (their initializer names, fed
    /// from the current state). Outputs: the logits, predictions = ArgMax(logits, axis 1, keepdims 0) (int64 [N], ties go to
    /// the lowest index), and with <see cref="ArtifactOptions.EvalConfusion"/> the batch's confusion counts
    /// Cast(MatMul(Transpose(OneHot(y)), OneHot(pred)), int64) [C, C] (exact up to 2^24 samples per batch), which needs
    /// labels under <paramref name="labelName"/>.
    /// </summary>
    public static EvalGraph Build(ModelProto forward, ForwardModelInfo info, ArtifactOptions o, string labelName)
    {
        var model = forward.Clone();
        var g = model.Graph;
        g.Name = "acwa_eval";
        ForwardShapeFolding.FoldForward(g, info, o.IsCuda);
        var stateInputs = info.Trainable.Concat(info.Buffers).ToList();
        ForwardModelInfo.LiftToInputs(g, stateInputs);
        g.Output.Clear();
        var b = new GraphBuilder(g);
        // On CUDA, recurrent nodes that ORT's CUDA provider would hand to the CPU are unrolled like the training graph's.
        if (o.IsCuda) Autodiff.RecurrentLowering.Apply(b, info.Shapes, n => !Autodiff.RecurrentLowering.CudaRunsFused(n));
        // The same forward rewrite as the training graph's, so that evaluation runs the same kernels.
        Autodiff.DepthwiseLowering.Apply(b, info.Shapes, o.ResolvedGradients.ResolvedDenseDepthwiseMaxPairs);
        b.Output(info.Logits, ElementType.Float, null, info.NumClasses);
        var pred = StepGraph.ArgMax(b, info.Logits);
        var predictions = GraphOps.OutputUnique(b, pred, "predictions", ElementType.Int64, [null]);
        var confusion = "";
        if (o.EvalConfusion)
        {
            var y = b.Input(labelName, ElementType.Int64, [null]);
            var ohY = LossFragment.OneHot(b, y, info.NumClasses);
            var ohP = LossFragment.OneHot(b, pred, info.NumClasses);
            var counts = b.Op("MatMul", [b.Op("Transpose", [ohY], Attr.Ints("perm", 1, 0)), ohP]);
            var asInt = b.Op("Cast", [counts], Attr.Int("to", (long)ElementType.Int64));
            confusion = GraphOps.OutputUnique(b, asInt, "confusion", ElementType.Int64, info.NumClasses, info.NumClasses);
        }
        return new EvalGraph(model, info.Logits, predictions, confusion, stateInputs);
    }
}
