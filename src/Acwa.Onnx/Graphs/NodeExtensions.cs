using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Graphs;

/// <summary>Attribute look-ups on <see cref="NodeProto"/> with ONNX defaults.</summary>
internal static class NodeExtensions
{
    /// <summary>The attribute called <paramref name="name"/>, or null.</summary>
    public static AttributeProto? FindAttribute(this NodeProto node, string name)
    {
        foreach (var a in node.Attribute)
            if (a.Name == name) return a;
        return null;
    }

    /// <summary>An integer attribute, or <paramref name="fallback"/> when absent.</summary>
    public static long GetInt(this NodeProto node, string name, long fallback) =>
        node.FindAttribute(name) is { } a ? a.I : fallback;

    /// <summary>A float attribute, or <paramref name="fallback"/> when absent.</summary>
    public static float GetFloat(this NodeProto node, string name, float fallback) =>
        node.FindAttribute(name) is { } a ? a.F : fallback;

    /// <summary>A string attribute, or <paramref name="fallback"/> when absent.</summary>
    public static string GetString(this NodeProto node, string name, string fallback) =>
        node.FindAttribute(name) is { } a ? a.S.ToStringUtf8() : fallback;

    /// <summary>An integer-list attribute, or null when absent.</summary>
    public static long[]? GetInts(this NodeProto node, string name) =>
        node.FindAttribute(name) is { } a ? a.Ints.ToArray() : null;

    /// <summary>A short description for error messages: name, op type and inputs.</summary>
    public static string Describe(this NodeProto node) =>
        $"node '{(node.Name.Length > 0 ? node.Name : node.Output.FirstOrDefault() ?? "?")}' ({node.OpType})";
}
