using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Tests.Models;

/// <summary>
/// The deterministic test values of tools/export_torch_fixtures.py's <c>pattern(name, shape)</c>, bit for bit:
/// u_i = ((i * 2654435761 + fnv1a32(name)) mod 2^32) / 2^32; running_var and 1-D ".weight": 0.5 + u;
/// other 1-D: 0.2 (2u - 1); rank >= 2: (2u - 1) sqrt(3 / fan_in) with fan_in = numel / dims[0]; computed in
/// double and rounded once to float.
/// </summary>
internal static class PatternWeights
{
    public static float[] For(string name, IReadOnlyList<long> dims)
    {
        long n = Tensors.ElementCount(dims);
        uint h = Fnv1a32(name);
        var values = new float[n];
        for (long i = 0; i < n; i++)
        {
            double u = (uint)((ulong)i * 2654435761UL + h) / 4294967296.0;
            double v;
            if (name.EndsWith("running_var", StringComparison.Ordinal) || (dims.Count == 1 && name.EndsWith(".weight", StringComparison.Ordinal))) v = 0.5 + u;
            else if (dims.Count == 1) v = 0.2 * (2.0 * u - 1.0);
            else v = (2.0 * u - 1.0) * Math.Sqrt(3.0 / (n / dims[0]));
            values[i] = (float)v;
        }
        return values;
    }

    /// <summary>Pattern values for every fp32 initializer of the model.</summary>
    public static Dictionary<string, float[]> ForModel(ModelProto model) =>
        model.Graph.Initializer.Where(t => t.DataType == (int)TensorProto.Types.DataType.Float)
            .ToDictionary(t => t.Name, t => For(t.Name, t.Dims));

    private static uint Fnv1a32(string s)
    {
        uint h = 2166136261;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(s)) { h ^= b; h *= 16777619; }
        return h;
    }
}
