using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Models;

/// <summary>
/// Small CNN: conv 32 3x3 pad 1 - ReLU - max-pool 2 - conv 64 3x3 pad 1 - ReLU - max-pool 2 - flatten - Linear 128 -
/// ReLU - Linear classes. Parameters <c>conv1.*</c>, <c>conv2.*</c>, <c>fc1.*</c>, <c>fc2.*</c> (PyTorch names and
/// layouts). Pooling floors odd sizes, so fc1 takes 64 * floor(H/4) * floor(W/4) features: 3,136 for 28x28 input
/// (421,642 parameters with 10 classes) and 4,096 for 32x32.
/// </summary>
public static class SmallCnn
{
    /// <summary>
    /// Builds the forward graph (opset 18) for input [N, channels, height, width] with seeded PyTorch-default-like
    /// initial weights; the same arguments give a byte-identical model.
    /// </summary>
    /// <param name="classes">Number of classes (at least 2).</param>
    /// <param name="channels">Input channels (at least 1), e.g. 1 for Fashion-MNIST, 3 for CIFAR.</param>
    /// <param name="height">Input height, at least 4.</param>
    /// <param name="width">Input width, at least 4.</param>
    /// <param name="seed">Seed of the initial weights.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is out of range; the message names it.</exception>
    public static ModelProto Build(int classes = 10, int channels = 1, int height = 28, int width = 28, int seed = 0)
    {
        ModelChecks.Classes(classes);
        ModelChecks.Input(channels, height, width, 4);
        var l = new LayerBuilder("small_cnn", seed);
        var x = l.ImageInput(channels, height, width);
        var h = l.MaxPool2(l.Relu(l.Conv("conv1", x, channels, 32, 3, 1, 1, bias: true)));
        h = l.MaxPool2(l.Relu(l.Conv("conv2", h, 32, 64, 3, 1, 1, bias: true)));
        long features = 64L * (height / 4) * (width / 4);
        h = l.Relu(l.Linear("fc1", l.Flatten(h), features, 128));
        l.Linear("fc2", h, 128, classes, ModelNames.Output);
        return l.Finish(classes, $"SmallCnn for {channels}x{height}x{width}, {classes} classes, seed {seed}");
    }
}
