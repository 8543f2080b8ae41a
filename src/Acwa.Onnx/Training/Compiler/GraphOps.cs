using System.Runtime.CompilerServices;
using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>Terse helpers over <see cref="GraphBuilder"/> for the fp32 arithmetic of loss and optimizer fragments (opset 18).</summary>
internal sealed class GraphOps(GraphBuilder b)
{
    // Constants shared by all fragments appended to one builder: one initializer per distinct value (and name).
    private static readonly ConditionalWeakTable<GraphBuilder, Dictionary<string, string>> Constants = new();

    public GraphBuilder B { get; } = b;

    private string Cached(string key, Func<string> create)
    {
        var cache = Constants.GetOrCreateValue(B);
        lock (cache)
        {
            if (!cache.TryGetValue(key, out var name)) cache[key] = name = create();
            return name;
        }
    }

    public string Add(string x, string y) => B.Op("Add", [x, y]);
    public string Sub(string x, string y) => B.Op("Sub", [x, y]);
    public string Mul(string x, string y) => B.Op("Mul", [x, y]);
    public string Div(string x, string y) => B.Op("Div", [x, y]);
    public string Neg(string x) => B.Op("Neg", [x]);
    public string Exp(string x) => B.Op("Exp", [x]);
    public string Sqrt(string x) => B.Op("Sqrt", [x]);
    public string Pow(string x, string y) => B.Op("Pow", [x, y]);
    public string Max(string x, string y) => B.Op("Max", [x, y]);
    public string Min(string x, string y) => B.Op("Min", [x, y]);
    public string Where(string cond, string x, string y) => B.Op("Where", [cond, x, y]);
    public string Greater(string x, string y) => B.Op("Greater", [x, y]);
    public string Gather(string data, string indices) => B.Op("Gather", [data, indices], Attr.Int("axis", 0));
    public string Unsqueeze(string x, params long[] axes) => B.Op("Unsqueeze", [x, Axes(axes)]);

    /// <summary>An int64 1-D constant of axes, shared within the graph.</summary>
    public string Axes(long[] axes) => Cached("axes:" + string.Join(",", axes), () => B.ConstInt64("axes", axes));
    public string CastFloat(string x) => B.Op("Cast", [x], Attr.Int("to", (long)ElementType.Float));

    /// <summary>ReduceSum over <paramref name="axes"/> (all axes when empty), keepdims 0.</summary>
    public string ReduceSum(string x, params long[] axes) =>
        axes.Length == 0
            ? B.Op("ReduceSum", [x], Attr.Int("keepdims", 0))
            : B.Op("ReduceSum", [x, Axes(axes)], Attr.Int("keepdims", 0));

    /// <summary>Sum of squares of all elements (scalar).</summary>
    public string SumSquares(string x) => B.Op("ReduceSumSquare", [x], Attr.Int("keepdims", 0));

    /// <summary>ReduceMean over all axes, keepdims 0 (a scalar).</summary>
    public string MeanAll(string x) => B.Op("ReduceMean", [x], Attr.Int("keepdims", 0));

    /// <summary>An fp32 scalar constant, shared within the graph per (name, bit pattern).</summary>
    public string K(float v, string name = "k") =>
        Cached($"k:{name}:{BitConverter.SingleToInt32Bits(v)}", () => B.Scalar(v, name));
    /// <summary>Declares a graph input under a fresh name derived from <paramref name="name"/> (reserved); returns the name.</summary>
    public static string InputUnique(GraphBuilder b, string name, ElementType type, params long?[] dims)
    {
        var n = b.Unique(name);
        b.Graph.Input.Add(GraphBuilder.ValueInfo(n, type, dims));
        return n;
    }
    /// <summary>Exposes <paramref name="value"/> as a graph output under a fresh name derived from <paramref name="name"/> (an Identity node); returns the name.</summary>
    public static string OutputUnique(GraphBuilder b, string value, string name, ElementType type, params long?[] dims)
    {
        var n = b.Unique(name);
        var node = new Acwa.Onnx.Graphs.Proto.NodeProto { OpType = "Identity", Name = b.Unique("Identity") };
        node.Input.Add(value);
        node.Output.Add(n);
        b.Graph.Node.Add(node);
        b.Output(n, type, dims);
        return n;
    }
}
