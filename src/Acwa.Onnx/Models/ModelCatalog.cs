using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Training.Compiler;

namespace Acwa.Onnx.Models;

/// <summary>
/// Resolves a model argument: a built-in name (mlp, cnn, resnet20, resnet32), built for the data, or a path to a forward
/// ONNX model; and answers what a model file declares about its input (image side, channels, token ids).
/// </summary>
public static class ModelCatalog
{
    /// <summary>The built-in models: mlp, cnn (small CNN), resnet20, resnet32 (CIFAR ResNets, shortcut A).</summary>
    public static IReadOnlyList<string> BuiltinNames { get; } = ["mlp", "cnn", "resnet20", "resnet32"];

    /// <summary>Default input shape (C, H, W) of a built-in model when no dataset decides it.</summary>
    public static (int C, int H, int W) DefaultInput(string name) => name is "resnet20" or "resnet32" ? (3, 32, 32) : (1, 28, 28);

    /// <summary>
    /// One sample's input dims and the classes for benchmarks: a built-in model's defaults ([C, H, W], 10 classes), or a
    /// model file's declared input [N, ...] (any rank, e.g. [N, C, L] for 1-D convolutions) and logits [N, classes]; an
    /// undeclared dim is an error naming the file and the value. <paramref name="loaded"/>: the file, when the caller has
    /// already loaded it (else it is loaded here).
    /// </summary>
    public static (int[] Sample, int Classes) BenchInput(string model, ModelProto? loaded = null)
    {
        if (BuiltinNames.Contains(model.ToLowerInvariant()))
        {
            var (c, h, w) = DefaultInput(model.ToLowerInvariant());
            return ([c, h, w], 10);
        }
        var m = loaded ?? Resolve(model, 10, 1, 1, 1, 0);
        var (input, inDims) = DeclaredInput(m) ?? throw new ArgumentException($"model '{model}' has no graph input");
        if (inDims.Length < 2 || inDims.Skip(1).Any(d => d < 0))
            throw new ArgumentException($"model '{model}': input '{input.Name}' must be declared as [N, ...] with every dim after the batch fixed (it is [{string.Join(", ", inDims)}])");
        var outDims = m.Graph.Output.Count > 0 ? Dims(m.Graph.Output[0]) : [];
        if (outDims.Length != 2 || outDims[1] < 1)
            throw new ArgumentException($"model '{model}': the first output must be logits [N, classes] with a fixed class count (it is [{string.Join(", ", outDims)}])");
        return (inDims.Skip(1).Select(d => (int)d).ToArray(), (int)outDims[1]);
    }

    /// <summary>Whether the model's data input is int64 (token ids).</summary>
    public static bool TakesTokenIds(ModelProto m) =>
        DeclaredInput(m) is { } declared && declared.Input.Type?.TensorType?.ElemType == (int)ElementType.Int64;

    /// <summary>
    /// For a model whose input is int64 token ids, the number of ids every embedding table it indexes can take: the
    /// smallest first dimension of the initializers that Gather nodes read with the input (directly or through a Cast)
    /// as indices. Null when the input is not int64; an error naming the input when no such table is found (random ids
    /// would then have no known valid range).
    /// </summary>
    public static long? TokenVocabulary(ModelProto m)
    {
        if (!TakesTokenIds(m)) return null;
        var name = DeclaredInput(m)!.Value.Input.Name;
        var readers = new HashSet<string>(StringComparer.Ordinal) { name };
        foreach (var n in m.Graph.Node)
            if (n.OpType == "Cast" && n.Input.Count > 0 && readers.Contains(n.Input[0])) readers.Add(n.Output[0]);
        var tables = m.Graph.Initializer.ToDictionary(t => t.Name, t => t.Dims.Count > 0 ? t.Dims[0] : 0, StringComparer.Ordinal);
        var sizes = m.Graph.Node
            .Where(n => n.OpType == "Gather" && n.Input.Count == 2 && readers.Contains(n.Input[1]) && n.GetInt("axis", 0) == 0 && tables.ContainsKey(n.Input[0]))
            .Select(n => tables[n.Input[0]]).ToList();
        return sizes.Count > 0 ? sizes.Min()
            : throw new ArgumentException($"input '{name}' is int64 but no Gather reads it as indices into an embedding table, so no valid range of token ids is known");
    }

    /// <summary>
    /// The side of a model file's declared square image input ([N, C, S, S]), or null for a built-in model (null), another
    /// input shape or an unreadable file: image datasets (folder, ISIC-2018) are then resized to fit the model.
    /// </summary>
    public static int? DeclaredImageSide(ModelProto? file)
    {
        var dims = file is null ? null : DeclaredInput(file)?.Dims;
        return dims is { Length: 4 } && dims[2] > 0 && dims[2] == dims[3] ? (int)dims[2] : null;
    }

    /// <summary>
    /// Whether a model file declares a one-channel image input ([N, 1, H, W]): decoded images (folder, ISIC-2018) are then
    /// converted to grey. False for a built-in model (null) or another input shape.
    /// </summary>
    public static bool DeclaredGrey(ModelProto? file) =>
        (file is null ? null : DeclaredInput(file)?.Dims) is { Length: 4 } dims && dims[1] == 1;

    /// <summary>
    /// For a model file (<paramref name="file"/>, loaded from <paramref name="model"/>; null for a built-in model): an error
    /// message when its declared input channels or square side disagree with the data's
    /// (channels, height, width), else null (built-in models are built for the data).
    /// </summary>
    public static string? InputMismatch(ModelProto? file, string model, int channels, int height, int width)
    {
        if (file is null || DeclaredInput(file) is not ({ } input, { Length: 4 } dims)) return null;
        bool bad = (dims[1] > 0 && dims[1] != channels) || (dims[2] > 0 && dims[2] != height) || (dims[3] > 0 && dims[3] != width);
        return bad
            ? $"model '{model}' takes input '{input.Name}' as [N, {string.Join(", ", dims.Skip(1).Select(d => d > 0 ? d.ToString() : "?"))}], the data is [N, {channels}, {height}, {width}]"
              + (channels != dims[1] && dims[1] > 0 ? " (channels differ: greyscale vs colour data)" : " (folder:/isic2018: data is resized with --image-size)")
            : null;
    }

    /// <summary>
    /// For a model file: an error message when the rank or a fixed dim of its declared input (after N) disagrees with the
    /// shape of one data sample, else null. A mere size check would let, e.g., [T, F] data feed a [F, T] input.
    /// </summary>
    public static string? SampleMismatch(ModelProto file, string model, IReadOnlyList<int> sample)
    {
        if (DeclaredInput(file) is not ({ } input, { Length: > 0 } dims)) return null;
        var after = dims.Skip(1).ToArray();
        bool bad = after.Length != sample.Count || after.Zip(sample).Any(p => p.First > 0 && p.First != p.Second);
        return bad
            ? $"model '{model}' takes input '{input.Name}' as [N, {string.Join(", ", after.Select(d => d > 0 ? d.ToString() : "?"))}], the data's samples are [N, {string.Join(", ", sample)}]"
            : null;
    }

    /// <summary>The model's first fed (non-initializer) input and its declared dims, -1 where a dim is not a fixed number.</summary>
    private static (ValueInfoProto Input, long[] Dims)? DeclaredInput(ModelProto m) =>
        ClassifierGraphs.FedInputs(m.Graph).FirstOrDefault() is { } input ? (input, Dims(input)) : null;

    private static long[] Dims(ValueInfoProto v) => ClassifierGraphs.DeclaredDims(v)?.Select(d => d is > 0 ? d.Value : -1).ToArray() ?? [];

    /// <summary>
    /// Compiles <paramref name="forward"/>'s training artifacts. The options are checked first (their errors name the option);
    /// compiler errors about a model file (<paramref name="modelFile"/>; null for a built-in model) get the file's name in
    /// front, the compiler's own message naming the input, node or initializer.
    /// </summary>
    public static ArtifactSet Compile(ModelProto forward, ArtifactOptions options, string? modelFile)
    {
        TrainingArtifacts.ValidateOptions(options);
        try { return TrainingArtifacts.Compile(forward, options); }
        catch (Exception e) when (modelFile is not null && e is ArgumentException or InvalidDataException or NotSupportedException)
        {
            throw new ArgumentException($"{modelFile}: {e.Message}", e);
        }
    }

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
        return LoadFile(nameOrPath)!;
    }

    /// <summary>
    /// <see cref="LoadFile"/>, or null when the file cannot be read: for questions about a model's declared input, whose
    /// answer is then "nothing declared" (the model's own loading reports what is wrong with it).
    /// </summary>
    public static ModelProto? TryLoadFile(string nameOrPath)
    {
        try { return LoadFile(nameOrPath); }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or Google.Protobuf.InvalidProtocolBufferException)
        {
            return null;
        }
    }

    /// <summary>Loads a model file; null for a built-in name (built for the data by <see cref="Resolve"/>).</summary>
    public static ModelProto? LoadFile(string nameOrPath)
    {
        if (BuiltinNames.Contains(nameOrPath.ToLowerInvariant())) return null;
        if (!nameOrPath.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) && !File.Exists(nameOrPath))
            throw new ArgumentException($"unknown model '{nameOrPath}': use one of {string.Join(", ", BuiltinNames)} or a path to a .onnx file");
        return OnnxModel.Load(nameOrPath);
    }
}
