using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Autodiff;

/// <summary>What a gradient rule sees of one forward node: its gradients in, and where to send gradients out.</summary>
internal sealed class RuleContext
{
    private readonly Func<int, bool> _needs;
    private readonly Action<string, string> _add;
    private readonly string?[] _dy;

    public RuleContext(NodeProto node, string?[] dy, Func<int, bool> needs, Action<string, string> add, GradEmitter emitter, GradientOptions options)
    {
        Node = node; _dy = dy; _needs = needs; _add = add; E = emitter; Options = options;
    }

    public NodeProto Node { get; }
    public GradEmitter E { get; }
    public GradientOptions Options { get; }
    public ShapeTable S => E.Shapes;

    /// <summary>Name of input <paramref name="i"/> ("" when absent).</summary>
    public string In(int i) => i < Node.Input.Count ? Node.Input[i] : "";
    public string Out(int i) => i < Node.Output.Count ? Node.Output[i] : "";

    /// <summary>The gradient of output <paramref name="i"/>, or null when it receives none.</summary>
    public string? Dy(int i = 0) => i < _dy.Length ? _dy[i] : null;

    /// <summary>dY of output 0; rules of single-output ops call this (never null for them).</summary>
    public string Dy0 => _dy[0] ?? throw new InvalidOperationException($"{Node.Describe()}: no gradient reaches output 0");

    /// <summary>Whether input <paramref name="i"/> needs a gradient.</summary>
    public bool Needs(int i) => i < Node.Input.Count && Node.Input[i].Length > 0 && _needs(i);

    /// <summary>Adds a gradient contribution to input <paramref name="i"/>.</summary>
    public void Add(int i, string grad) => _add(Node.Input[i], grad);

    /// <summary>Adds a gradient contribution to a value other than one of this node's inputs (an input's own producer's input).</summary>
    public void AddTo(string value, string grad) => _add(value, grad);

    /// <summary>Element type of output 0 (the type of the gradients flowing in).</summary>
    public ElementType T => S.TypeOf(Node.Output[0]);

    public long[] Dims(string value) => S[value];

    public NotSupportedException Unsupported(string why) =>
        new($"{Node.Describe()}: {why}");
}
