using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Tests.Autodiff;

/// <summary>One test input: name, dims (the first input's dim 0 is the batch), and how its values are drawn.</summary>
internal sealed record GradInput(string Name, long[] Dims, Func<Random, double>? Draw = null, double[]? Values = null, int BatchAxis = 0);

/// <summary>
/// Finite-difference gradient checks: builds a tiny forward graph, differentiates the random projection
/// f = sum(Y * R) with ReverseMode, runs both in ORT and compares each gradient with central differences
/// on sampled elements.
/// </summary>
internal static class GradCheck
{
    public static double Uniform(Random r) => r.NextDouble() * 2 - 1;
    /// <summary>|v| in [0.2, 1] with random sign: keeps inputs away from the Relu kink.</summary>
    public static double AwayFromZero(Random r) => (r.Next(2) == 0 ? -1 : 1) * (0.2 + 0.8 * r.NextDouble());
    public static double Positive(Random r) => 0.5 + r.NextDouble();

    public sealed record Result(double MaxError, int Checked, ModelProto GradModel);

    public static Result Check(ElementType type, GradInput[] inputs, Func<GraphBuilder, string> body,
        string[]? wrt = null, GradientOptions? options = null, double? tolerance = null, int samples = 10, int seed = 1,
        Action<GraphBuilder, ShapeTable>? forwardRewrite = null, Func<string, bool[]>? boolInputs = null, double? step = null, int opset = OnnxModel.DefaultOpset)
    {
        bool dbl = type == ElementType.Double;
        double h = step ?? (dbl ? 1e-6 : 1e-2), tol = tolerance ?? (dbl ? 1e-6 : 1e-2);
        var rng = new Random(seed);
        var values = inputs.Select(i => i.Values ?? Enumerable.Range(0, (int)Tensors.ElementCount(i.Dims)).Select(_ => (i.Draw ?? Uniform)(rng)).ToArray()).ToArray();
        if (!dbl) values = values.Select(v => v.Select(x => (double)(float)x).ToArray()).ToArray();

        // Forward model.
        var fb = new GraphBuilder("fwd");
        for (int i = 0; i < inputs.Length; i++)
            fb.Input(inputs[i].Name, type, inputs[i].Dims.Select((d, k) => i == 0 && k == inputs[0].BatchAxis ? (long?)null : d).ToArray());
        var y = body(fb);
        fb.Graph.Output.Add(new ValueInfoProto { Name = y, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type } } });
        var fwdModel = OnnxModel.Create(fb.Graph, opset);
        var shapes = ShapeProbe.Infer(fwdModel, inputs[0].Name, inputs[0].Dims.Select((d, k) => k == inputs[0].BatchAxis ? -1 : d).ToArray());
        forwardRewrite?.Invoke(new GraphBuilder(fwdModel.Graph), shapes);
        using var runner = new Runner(boolInputs, inputs[0].Dims[inputs[0].BatchAxis]);

        // Gradient model.
        var gm = fwdModel.Clone();
        var gb = new GraphBuilder(gm.Graph);
        var yDims = shapes[y];
        var dy = gb.Input("ad_test_dy", type, yDims.Select(d => d < 0 ? (long?)null : d).ToArray());
        var wrtNames = wrt ?? inputs.Select(i => i.Name).ToArray();
        var grads = ReverseMode.Differentiate(gb, new Dictionary<string, string> { [y] = dy }, wrtNames, shapes, options);
        var gradOutputs = new List<string>();
        foreach (var w in wrtNames)
        {
            var o = gb.OutputAs(grads[w], "grad_" + w, type);
            gradOutputs.Add(o);
        }
        foreach (var o in gm.Graph.Output) if (o.Type?.TensorType is { } tt) tt.Shape = null;
        var gradModel = gm;

        var yOut = Run(runner, fwdModel, inputs, values, type, [y], null, null)[0];
        var r = Enumerable.Range(0, yOut.Length).Select(_ => Uniform(rng)).ToArray();
        if (!dbl) r = r.Select(x => (double)(float)x).ToArray();
        var analytic = Run(runner, gradModel, inputs, values, type, gradOutputs.ToArray(), "ad_test_dy", (r, BatchDims(yDims, inputs[0].Dims[inputs[0].BatchAxis])));

        double maxErr = 0; int count = 0;
        for (int wi = 0; wi < wrtNames.Length; wi++)
        {
            int inputIndex = Array.FindIndex(inputs, i => i.Name == wrtNames[wi]);
            var g = analytic[wi];
            Assert.True(g.Length == values[inputIndex].Length, $"gradient of '{wrtNames[wi]}' has {g.Length} elements, the input has {values[inputIndex].Length}");
            double rms = Math.Sqrt(g.Sum(v => v * v) / Math.Max(1, g.Length));
            var picks = g.Length <= samples ? Enumerable.Range(0, g.Length) : Enumerable.Range(0, samples).Select(_ => rng.Next(g.Length)).Distinct();
            foreach (var k in picks)
            {
                double orig = values[inputIndex][k];
                double hk = h * Math.Max(1, Math.Abs(orig));
                values[inputIndex][k] = orig + hk;
                double fp = Dot(Run(runner, fwdModel, inputs, values, type, [y], null, null)[0], r);
                values[inputIndex][k] = orig - hk;
                double fm = Dot(Run(runner, fwdModel, inputs, values, type, [y], null, null)[0], r);
                values[inputIndex][k] = orig;
                double numeric = (fp - fm) / (2 * hk);
                double err = Math.Abs(numeric - g[k]) / Math.Max(Math.Max(Math.Abs(numeric), Math.Abs(g[k])), Math.Max(0.1 * rms, dbl ? 1e-9 : 1e-3));
                maxErr = Math.Max(maxErr, err);
                count++;
                Assert.True(err <= tol, $"d f / d {wrtNames[wi]}[{k}]: analytic {g[k]:G8}, numeric {numeric:G8}, relative error {err:G3} > {tol}");
            }
        }
        return new Result(maxErr, count, gradModel);
    }

    /// <summary>
    /// The analytic gradients (no finite differences) of f = sum(Y * R) at the given input values (R drawn from
    /// <paramref name="seed"/>): for comparing decompositions where Y has kinks, e.g. MaxPool ties.
    /// </summary>
    public static double[][] GradAt(ElementType type, GradInput[] inputs, double[][] values, Func<GraphBuilder, string> body,
        GradientOptions options, int seed = 1)
    {
        var fb = new GraphBuilder("fwd");
        for (int i = 0; i < inputs.Length; i++)
            fb.Input(inputs[i].Name, type, inputs[i].Dims.Select((d, k) => i == 0 && k == 0 ? (long?)null : d).ToArray());
        var y = body(fb);
        fb.Graph.Output.Add(new ValueInfoProto { Name = y, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type } } });
        var fwdModel = OnnxModel.Create(fb.Graph);
        var shapes = ShapeProbe.Infer(fwdModel, inputs[0].Name, inputs[0].Dims.Select((d, k) => k == 0 ? -1 : d).ToArray());
        var gb = new GraphBuilder(fwdModel.Graph);
        var yDims = shapes[y];
        var dy = gb.Input("ad_test_dy", type, yDims.Select(d => d < 0 ? (long?)null : d).ToArray());
        var names = inputs.Select(i => i.Name).ToArray();
        var grads = ReverseMode.Differentiate(gb, new Dictionary<string, string> { [y] = dy }, names, shapes, options);
        var outs = names.Select(w => gb.OutputAs(grads[w], "grad_" + w, type)).ToArray();
        foreach (var o in fwdModel.Graph.Output) if (o.Type?.TensorType is { } tt) tt.Shape = null;
        var dyDims = BatchDims(yDims, inputs[0].Dims[0]);
        var rng = new Random(seed);
        var r = Enumerable.Range(0, (int)Tensors.ElementCount(dyDims)).Select(_ => Uniform(rng)).ToArray();
        if (type != ElementType.Double) r = r.Select(x => (double)(float)x).ToArray();
        using var runner = new Runner(null, inputs[0].Dims[0]);
        return Run(runner, fwdModel, inputs, values, type, outs, "ad_test_dy", (r, dyDims));
    }

    private static long[] BatchDims(long[] dims, long batch) => dims.Select(d => d < 0 ? batch : d).ToArray();

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    private sealed class Runner(Func<string, bool[]>? boolInputs, long batch) : IDisposable
    {
        public Func<string, bool[]>? BoolInputs { get; } = boolInputs;
        public long Batch { get; } = batch;
        public Dictionary<ModelProto, InferenceSession> Sessions { get; } = new(ReferenceEqualityComparer.Instance);
        public void Dispose() { foreach (var s in Sessions.Values) s.Dispose(); }
    }

    private static double[][] Run(Runner runner, ModelProto model, GradInput[] inputs, double[][] values, ElementType type, string[] outputs,
        string? extraName, (double[] Values, long[] Dims)? extra)
    {
        var (Sessions, BoolInputs, Batch) = (runner.Sessions, runner.BoolInputs, runner.Batch);
        if (!Sessions.TryGetValue(model, out var s))
        {
            using var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
            s = new InferenceSession(OnnxModel.ToBytes(model), so);
            Sessions[model] = s;
        }
        var names = new List<string>();
        var vals = new List<OrtValue>();
        try
        {
            for (int i = 0; i < inputs.Length; i++)
            {
                if (!s.InputMetadata.ContainsKey(inputs[i].Name)) continue;
                names.Add(inputs[i].Name);
                vals.Add(Make(values[i], inputs[i].Dims, type));
            }
            if (extraName is not null) { names.Add(extraName); vals.Add(Make(extra!.Value.Values, extra.Value.Dims, type)); }
            foreach (var (name, meta) in s.InputMetadata)
                if (!names.Contains(name))
                {
                    if (BoolInputs is null || meta.ElementDataType != TensorElementType.Bool)
                        throw new InvalidOperationException($"test graph input '{name}' has no value");
                    names.Add(name);
                    vals.Add(OrtValue.CreateTensorValueFromMemory(BoolInputs(name), meta.Dimensions.Select(d => d < 0 ? Batch : (long)d).ToArray()));
                }
            using var runOptions = new RunOptions(); // held for the call: a temporary could be finalised (its native options freed) while Run is still reading them
            using var res = s.Run(runOptions, names, vals, outputs);
            return res.Select(v => type == ElementType.Double ? v.GetTensorDataAsSpan<double>().ToArray() : v.GetTensorDataAsSpan<float>().ToArray().Select(f => (double)f).ToArray()).ToArray();
        }
        finally { foreach (var v in vals) v.Dispose(); }
    }

    public static OrtValue Make(double[] v, long[] dims, ElementType type) => type == ElementType.Double
        ? OrtValue.CreateTensorValueFromMemory(v.ToArray(), dims)
        : OrtValue.CreateTensorValueFromMemory(v.Select(x => (float)x).ToArray(), dims);

    /// <summary>Counts nodes of the gradient model beyond the forward ones whose op type is <paramref name="opType"/>.</summary>
    public static int CountOps(ModelProto m, string opType) => m.Graph.Node.Count(n => n.OpType == opType);
}
