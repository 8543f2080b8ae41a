using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Models;

namespace Acwa.Cli.Commands;

/// <summary>Resolves a model argument: a built-in name (mlp, cnn, resnet20, resnet32) or a path to a forward ONNX model.</summary>
internal static class ModelCatalog
{
    public static readonly string[] BuiltinNames = ["mlp", "cnn", "resnet20", "resnet32"];

    /// <summary>Default input shape (C, H, W) of a built-in model when no dataset decides it.</summary>
    public static (int C, int H, int W) DefaultInput(string name) => name is "resnet20" or "resnet32" ? (3, 32, 32) : (1, 28, 28);

    /// <summary>Builds a built-in model for the given input and classes (seeded), or loads a model file.</summary>
    public static ModelProto Resolve(string nameOrPath, int classes, int channels, int height, int width, int seed)
    {
        switch (nameOrPath.ToLowerInvariant())
        {
            case "mlp": return Mlp.Build(classes, null, channels, height, width, seed);
            case "cnn": return SmallCnn.Build(classes, channels, height, width, seed);
            case "resnet20": return ResNetCifar.Build(20, classes, ResNetShortcut.A, channels, height, width, seed);
            case "resnet32": return ResNetCifar.Build(32, classes, ResNetShortcut.A, channels, height, width, seed);
        }
        if (!nameOrPath.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) && !File.Exists(nameOrPath))
            throw new ArgumentException($"unknown model '{nameOrPath}': use one of {string.Join(", ", BuiltinNames)} or a path to a .onnx file");
        return OnnxModel.Load(nameOrPath);
    }
}
