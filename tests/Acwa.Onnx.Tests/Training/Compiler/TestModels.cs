using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Tests.Training.Compiler;

/// <summary>Small forward models built with <see cref="GraphBuilder"/> and a double-precision reference of the MLP.</summary>
internal static class TestModels
{
    /// <summary>MLP: x [N, sizes[0]] -> (MatMul fcK.weight [in, out] + fcK.bias, Relu between layers) -> logits [N, sizes[^1]].
    /// Weights uniform in +-sqrt(6 / in) (He), biases uniform in +-0.1; fixed seed.</summary>
    public static ModelProto Mlp(int[] sizes, int seed, bool gemm = false, float dropout = 0f)
    {
        var rng = new Random(seed);
        var b = new GraphBuilder("mlp");
        string h = b.Input("x", ElementType.Float, null, sizes[0]);
        for (int k = 0; k + 1 < sizes.Length; k++)
        {
            int fin = sizes[k], fout = sizes[k + 1];
            double bound = Math.Sqrt(6.0 / fin);
            var w = b.ConstFloat($"fc{k}.weight", [fin, fout], Enumerable.Range(0, fin * fout).Select(_ => (float)((rng.NextDouble() * 2 - 1) * bound)).ToArray());
            var bias = b.ConstFloat($"fc{k}.bias", [fout], Enumerable.Range(0, fout).Select(_ => (float)((rng.NextDouble() * 2 - 1) * 0.1)).ToArray());
            h = gemm ? b.Op("Gemm", [h, w, bias]) : b.Op("Add", [b.Op("MatMul", [h, w]), bias]);
            if (k + 2 < sizes.Length) h = b.Op("Relu", [h]);
            if (k + 2 < sizes.Length && dropout > 0) h = b.Op("Dropout", [h, b.Scalar(dropout, "dropout_ratio")]);
        }
        b.OutputAs(h, "logits", ElementType.Float, null, sizes[^1]);
        return OnnxModel.Create(b.Graph);
    }

    /// <summary>The MLP's logits in double for the given parameter values (name -> values).</summary>
    public static double[] MlpForward(int[] sizes, IReadOnlyDictionary<string, double[]> p, double[] x, int n)
    {
        var h = x;
        for (int k = 0; k + 1 < sizes.Length; k++)
        {
            int fin = sizes[k], fout = sizes[k + 1];
            var w = p[$"fc{k}.weight"]; var bias = p[$"fc{k}.bias"];
            var o = new double[n * fout];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < fout; j++)
                {
                    double s = bias[j];
                    for (int a = 0; a < fin; a++) s += h[i * fin + a] * w[a * fout + j];
                    o[i * fout + j] = k + 2 < sizes.Length ? Math.Max(0, s) : s;
                }
            h = o;
        }
        return h;
    }
    /// <summary>Small CNN: x [N, 1, 6, 6] -> Conv 3x3 (4 ch, pad 1) -> BatchNormalization -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> logits [N, 3].</summary>
    public static ModelProto ConvBn(int seed)
    {
        var rng = new Random(seed);
        float[] R(int n, double s) => Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * s)).ToArray();
        var b = new GraphBuilder("convbn");
        var x = b.Input("x", ElementType.Float, null, 1, 6, 6);
        var w = b.ConstFloat("conv.weight", [4, 1, 3, 3], R(36, 0.5));
        var cb = b.ConstFloat("conv.bias", [4], R(4, 0.1));
        var h = b.Op("Conv", [x, w, cb], Attr.Ints("pads", 1, 1, 1, 1), Attr.Ints("kernel_shape", 3, 3));
        var gamma = b.ConstFloat("bn.weight", [4], R(4, 0.2).Select(v => v + 1f).ToArray());
        var beta = b.ConstFloat("bn.bias", [4], R(4, 0.1));
        var mean = b.ConstFloat("bn.running_mean", [4], R(4, 0.1));
        var variance = b.ConstFloat("bn.running_var", [4], R(4, 0.2).Select(v => v + 1f).ToArray());
        h = b.Op("BatchNormalization", [h, gamma, beta, mean, variance], Attr.Float("epsilon", 1e-5f), Attr.Float("momentum", 0.9f));
        h = b.Op("Flatten", [b.Op("GlobalAveragePool", [b.Op("Relu", [h])])], Attr.Int("axis", 1));
        var fw = b.ConstFloat("fc.weight", [3, 4], R(12, 0.8));
        var fb = b.ConstFloat("fc.bias", [3], R(3, 0.1));
        b.OutputAs(b.Op("Gemm", [h, fw, fb], Attr.Int("transB", 1)), "logits", ElementType.Float, null, 3);
        return OnnxModel.Create(b.Graph);
    }
}
