using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Models;

/// <summary>
/// The built-in models' default forward graphs, as committed in the repository's <c>models/</c> folder:
/// <c>mlp.onnx</c> (784-256-10 on 1x28x28), <c>cnn.onnx</c> (<see cref="SmallCnn"/> on 1x28x28, 10 classes),
/// <c>resnet20.onnx</c> and <c>resnet32.onnx</c> (<see cref="ResNetCifar"/>, shortcut A, 3x32x32, 10 classes),
/// all with seed 0.
/// </summary>
internal static class BuiltinModels
{
    /// <summary>The seed of the committed models.</summary>
    public const int Seed = 0;

    /// <summary>File name (without folder) and builder of each built-in model, in a fixed order.</summary>
    public static IReadOnlyList<(string FileName, Func<ModelProto> Build)> All { get; } =
    [
        ("mlp.onnx", () => Mlp.Build(classes: 10, channels: 1, height: 28, width: 28, seed: Seed)),
        ("cnn.onnx", () => SmallCnn.Build(classes: 10, channels: 1, height: 28, width: 28, seed: Seed)),
        ("resnet20.onnx", () => ResNetCifar.Build(depth: 20, classes: 10, shortcut: ResNetShortcut.A, channels: 3, height: 32, width: 32, seed: Seed)),
        ("resnet32.onnx", () => ResNetCifar.Build(depth: 32, classes: 10, shortcut: ResNetShortcut.A, channels: 3, height: 32, width: 32, seed: Seed)),
    ];

    /// <summary>
    /// Built-in models whose default training artifacts are committed under <c>models/artifacts/NAME/</c>: class-weighted
    /// cross-entropy, Adam (lr 1e-3), CPU decompositions, all float initializers trainable. ResNet artifacts are not
    /// committed (5-8 MB each); <c>acwa artifacts --model models/resnet20.onnx --out DIR</c> makes them.
    /// </summary>
    public static IReadOnlyList<string> WithCommittedArtifacts { get; } = ["mlp", "cnn"];

    /// <summary>Writes the default training artifacts of <see cref="WithCommittedArtifacts"/> into <c>dir/NAME/</c>; returns the folders.</summary>
    public static IReadOnlyList<string> WriteArtifacts(string dir)
    {
        var dirs = new List<string>();
        foreach (var name in WithCommittedArtifacts)
        {
            var build = All.First(m => m.FileName == name + ".onnx").Build;
            var outDir = Path.Combine(dir, name);
            Training.Compiler.TrainingArtifacts.Generate(build(), new Training.Compiler.ArtifactOptions(), outDir);
            dirs.Add(outDir);
        }
        return dirs;
    }

    /// <summary>Writes every built-in model into <paramref name="dir"/> (created if missing; files replaced
    /// atomically) and returns the paths written.</summary>
    public static IReadOnlyList<string> WriteAll(string dir)
    {
        Directory.CreateDirectory(dir);
        var paths = new List<string>();
        foreach (var (file, build) in All)
        {
            var path = Path.Combine(dir, file);
            OnnxModel.Save(build(), path);
            paths.Add(path);
        }
        return paths;
    }
}
