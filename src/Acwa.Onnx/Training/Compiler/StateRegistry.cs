using Acwa.Onnx.Graphs;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>
/// Declares state tensors of a step graph: each is a graph input (current value) and a graph output (next value).
/// <see cref="Ordered"/> lists parameters, then buffers, then optimizer state, each in declaration order.
/// </summary>
internal sealed class StateRegistry(GraphBuilder b)
{
    private readonly List<(string Name, StateKind Kind, long[] Shape, string Input)> _declared = [];
    private readonly Dictionary<string, string> _outputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Name, StateKind Kind, long[] Shape)> _byInput = new(StringComparer.Ordinal);

    /// <summary>Declares an fp32 state input named <paramref name="name"/> (made unique) and returns the input name.</summary>
    public string Declare(string name, StateKind kind, long[] shape)
    {
        var input = GraphOps.InputUnique(b, name, ElementType.Float, shape.Select(d => (long?)d).ToArray());
        _declared.Add((input, kind, shape, input));
        _byInput[input] = (input, kind, shape);
        return input;
    }

    /// <summary>Registers an existing graph input (e.g. a parameter turned into an input) as state.</summary>
    public void Adopt(string input, StateKind kind, long[] shape)
    {
        _declared.Add((input, kind, shape, input));
        _byInput[input] = (input, kind, shape);
    }

    /// <summary>Makes <paramref name="value"/> the next value of the state read from <paramref name="input"/> (an output named INPUT.next).</summary>
    public void Bind(string input, string value)
    {
        if (!_byInput.TryGetValue(input, out var s)) throw new InvalidOperationException($"state input '{input}' was not declared");
        if (_outputs.ContainsKey(input)) throw new InvalidOperationException($"state input '{input}' is bound twice");
        var outName = GraphOps.OutputUnique(b, value, input + ".next", ElementType.Float, s.Shape.Select(d => (long?)d).ToArray());
        _outputs[input] = outName;
    }

    /// <summary>All state in manifest order; throws if one was declared but never bound.</summary>
    public List<StateTensor> Ordered()
    {
        var list = new List<StateTensor>();
        foreach (var kind in new[] { StateKind.Parameter, StateKind.Buffer, StateKind.Optimizer })
            foreach (var d in _declared.Where(d => d.Kind == kind))
            {
                if (!_outputs.TryGetValue(d.Input, out var o)) throw new InvalidOperationException($"state '{d.Name}' has no next value");
                list.Add(new StateTensor(d.Name, d.Kind, d.Shape, d.Input, o));
            }
        return list;
    }
}
