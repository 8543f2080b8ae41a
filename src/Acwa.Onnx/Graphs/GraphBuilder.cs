using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Graphs;

/// <summary>
/// Appends nodes, initializers, inputs and outputs to an ONNX <see cref="GraphProto"/> with unique names.
/// Used by the model builders and by the training-graph compiler. Dimensions given as <c>null</c> or a
/// negative number become the symbolic dimension <c>"N"</c> (the batch).
/// </summary>
public sealed class GraphBuilder
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _counter;

    /// <summary>Starts a new, empty graph.</summary>
    public GraphBuilder(string name) : this(new GraphProto { Name = name }) { }

    /// <summary>Appends to an existing graph; its names are reserved.</summary>
    public GraphBuilder(GraphProto graph)
    {
        Graph = graph;
        foreach (var i in graph.Input) _names.Add(i.Name);
        foreach (var i in graph.Initializer) _names.Add(i.Name);
        foreach (var n in graph.Node)
        {
            foreach (var o in n.Output) _names.Add(o);
            if (n.Name.Length > 0) _names.Add(n.Name);
        }
    }

    /// <summary>The graph being built.</summary>
    public GraphProto Graph { get; }

    /// <summary>Values derived once per graph and reused (see <see cref="Derived"/>).</summary>
    private readonly Dictionary<string, string> _derived = new(StringComparer.Ordinal);

    /// <summary>
    /// The graph value for <paramref name="key"/> (what was derived, e.g. an element count of a value over some axes, or
    /// a constant for one convolution geometry), made by <paramref name="make"/> the first time it is asked for on this
    /// builder. Valid for this graph only, hence kept by its builder.
    /// </summary>
    internal string Derived(string key, Func<string> make)
    {
        if (!_derived.TryGetValue(key, out var value)) _derived[key] = value = make();
        return value;
    }

    /// <summary>Moves the nodes appended since <paramref name="countBefore"/> to <paramref name="index"/> of the node list
    /// (in order), e.g. in front of the node they now feed, keeping the list topologically sorted.</summary>
    public void MoveAppendedTo(int countBefore, int index)
    {
        var nodes = Graph.Node;
        var appended = nodes.Skip(countBefore).ToList();
        for (int i = nodes.Count - 1; i >= countBefore; i--) nodes.RemoveAt(i);
        for (int i = 0; i < appended.Count; i++) nodes.Insert(index + i, appended[i]);
    }

    /// <summary>Returns a name starting with <paramref name="prefix"/> not used yet in the graph, and reserves it.</summary>
    public string Unique(string prefix)
    {
        if (_names.Add(prefix)) return prefix;
        while (true)
        {
            var n = $"{prefix}_{++_counter}";
            if (_names.Add(n)) return n;
        }
    }

    /// <summary>Reserves an exact name; throws if it is taken.</summary>
    public string Reserve(string name)
    {
        if (!_names.Add(name)) throw new InvalidOperationException($"name '{name}' is already used in graph '{Graph.Name}'");
        return name;
    }

    /// <summary>Adds a node with one output and returns that output's name.</summary>
    public string Op(string opType, IReadOnlyList<string> inputs, params AttributeProto[] attributes) =>
        OpMulti(opType, inputs, 1, attributes)[0];

    /// <summary>Adds a node with one output named <paramref name="output"/> (reserved here).</summary>
    public string OpNamed(string opType, IReadOnlyList<string> inputs, string output, params AttributeProto[] attributes)
    {
        Reserve(output);
        var node = NewNode(opType, inputs, attributes);
        node.Output.Add(output);
        Graph.Node.Add(node);
        return output;
    }

    /// <summary>Adds a node with <paramref name="outputs"/> outputs and returns their names.</summary>
    public string[] OpMulti(string opType, IReadOnlyList<string> inputs, int outputs, params AttributeProto[] attributes)
    {
        var node = NewNode(opType, inputs, attributes);
        var names = new string[outputs];
        for (int i = 0; i < outputs; i++)
        {
            names[i] = Unique($"{node.Name}_out{i}");
            node.Output.Add(names[i]);
        }
        Graph.Node.Add(node);
        return names;
    }

    private NodeProto NewNode(string opType, IReadOnlyList<string> inputs, AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Unique(opType) };
        node.Input.AddRange(inputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    /// <summary>Adds an initializer under a unique name derived from the tensor's name; returns the name.</summary>
    public string Initializer(TensorProto tensor)
    {
        tensor.Name = Unique(tensor.Name.Length > 0 ? tensor.Name : "const");
        Graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>An fp32 constant initializer.</summary>
    public string ConstFloat(string name, long[] dims, params float[] values) => Initializer(Tensors.Float(name, dims, values));

    /// <summary>An fp32 scalar constant.</summary>
    public string Scalar(float value, string name = "scalar") => Initializer(Tensors.Float(name, [], [value]));

    /// <summary>An int64 1-D constant (shapes, axes, starts).</summary>
    public string ConstInt64(string name, params long[] values) => Initializer(Tensors.Int64(name, [values.Length], values));

    /// <summary>Declares a graph input.</summary>
    public string Input(string name, ElementType type, params long?[] dims)
    {
        Reserve(name);
        Graph.Input.Add(ValueInfo(name, type, dims));
        return name;
    }

    /// <summary>Declares a graph output on an existing value.</summary>
    public void Output(string name, ElementType type, params long?[] dims) => Graph.Output.Add(ValueInfo(name, type, dims));

    /// <summary>Adds an Identity node so that <paramref name="value"/> is available under <paramref name="outputName"/>, and declares it as a graph output.</summary>
    public string OutputAs(string value, string outputName, ElementType type, params long?[] dims)
    {
        OpNamed("Identity", [value], outputName);
        Output(outputName, type, dims);
        return outputName;
    }

    /// <summary>A <see cref="ValueInfoProto"/> for a tensor.</summary>
    public static ValueInfoProto ValueInfo(string name, ElementType type, params long?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is { } v && v >= 0 ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = "N" });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
