using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Models;

/// <summary>
/// Multi-layer perceptron: <c>x</c> [N, C, H, W] is flattened to [N, C*H*W], then Linear + ReLU per hidden
/// layer and a final Linear to <c>logits</c> [N, classes]. Parameters <c>fc1.weight</c>, <c>fc1.bias</c>, ...,
/// <c>fcK.weight</c>, <c>fcK.bias</c> (K = hidden layers + 1), weights in PyTorch layout [out, in].
/// </summary>
public static class Mlp
{
    /// <summary>The default hidden layer sizes (one layer of 256).</summary>
    public static IReadOnlyList<int> DefaultHidden { get; } = [256];

    /// <summary>
    /// Builds the forward graph (opset 18) with seeded PyTorch-default-like initial weights; the same arguments
    /// give a byte-identical model.
    /// </summary>
    /// <param name="classes">Number of classes (at least 2).</param>
    /// <param name="hidden">Hidden layer sizes, each at least 1; null means <see cref="DefaultHidden"/>, empty means a linear model.</param>
    /// <param name="channels">Input channels C (at least 1).</param>
    /// <param name="height">Input height H (at least 1).</param>
    /// <param name="width">Input width W (at least 1).</param>
    /// <param name="seed">Seed of the initial weights.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is out of range; the message names it.</exception>
    public static ModelProto Build(int classes = 10, IReadOnlyList<int>? hidden = null, int channels = 1, int height = 28, int width = 28, int seed = 0)
    {
        ModelChecks.Classes(classes);
        ModelChecks.Input(channels, height, width, 1);
        hidden ??= DefaultHidden;
        for (int i = 0; i < hidden.Count; i++)
            if (hidden[i] < 1) throw new ArgumentOutOfRangeException(nameof(hidden), hidden[i], $"hidden layer {i} has size {hidden[i]}; sizes must be at least 1");

        var l = new LayerBuilder("mlp", seed);
        long features = (long)channels * height * width;
        var h = l.Flatten(l.ImageInput(channels, height, width));
        for (int i = 0; i < hidden.Count; i++)
        {
            h = l.Relu(l.Linear($"fc{i + 1}", h, features, hidden[i]));
            features = hidden[i];
        }
        l.Linear($"fc{hidden.Count + 1}", h, features, classes, ModelNames.Output);
        return l.Finish(classes, $"MLP {channels * height * width}-{string.Concat(hidden.Select(s => $"{s}-"))}{classes}, seed {seed}");
    }
}
