using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Models;

/// <summary>
/// CIFAR ResNet (He et al. 2016, section 4.2) as in the LDAM-DRW code's <c>resnet_cifar.py</c>: conv 3x3 16 (no
/// bias) - BN - ReLU; three stages of n = (depth - 2) / 6 basic blocks with 16, 32 and 64 channels, the first
/// block of stages 2 and 3 with stride 2; global average pool; Linear to the classes. A basic block is
/// conv 3x3 - BN - ReLU - conv 3x3 - BN, plus the shortcut, then ReLU. Parameters are named as PyTorch's
/// <c>state_dict</c>: <c>conv1.weight</c>, <c>bn1.*</c>, <c>layer{s}.{i}.conv1.weight</c>, <c>layer{s}.{i}.bn1.running_mean</c>,
/// ..., <c>fc.weight</c>, <c>fc.bias</c> (the LDAM code calls the last layer <c>linear</c>; we use torchvision's <c>fc</c>).
/// Batch norms are in inference form (running statistics as initializers, epsilon 1e-5, ONNX momentum 0.9).
/// Initial weights follow PyTorch's layer defaults (Kaiming-uniform a = sqrt(5)), not the LDAM code's
/// Kaiming-normal re-initialisation. With 10 classes: ResNet-20 has 269,722 parameters (option A) or 272,474 (B);
/// ResNet-32 464,154 (A) or 466,906 (B).
/// </summary>
public static class ResNetCifar
{
    /// <summary>
    /// Builds the forward graph (opset 18) for input [N, channels, height, width] (any spatial size: the head
    /// pools globally); the same arguments give a byte-identical model.
    /// </summary>
    /// <param name="depth">6n + 2 for n at least 1: 20, 32, 44, 56, 110, ...</param>
    /// <param name="classes">Number of classes (at least 2).</param>
    /// <param name="shortcut">Shortcut of the down-sampling blocks; <see cref="ResNetShortcut.A"/> by default.</param>
    /// <param name="channels">Input channels (at least 1).</param>
    /// <param name="height">Input height (at least 1); 32 for CIFAR.</param>
    /// <param name="width">Input width (at least 1); 32 for CIFAR.</param>
    /// <param name="seed">Seed of the initial weights.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is out of range or the depth is not 6n + 2; the message names it.</exception>
    public static ModelProto Build(int depth = 20, int classes = 10, ResNetShortcut shortcut = ResNetShortcut.A,
        int channels = 3, int height = 32, int width = 32, int seed = 0)
    {
        if (depth < 8 || (depth - 2) % 6 != 0)
            throw new ArgumentOutOfRangeException(nameof(depth), depth, $"CIFAR ResNet depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110), got {depth}");
        if (!Enum.IsDefined(shortcut)) throw new ArgumentOutOfRangeException(nameof(shortcut), shortcut, $"unknown shortcut option {shortcut}");
        ModelChecks.Classes(classes);
        ModelChecks.Input(channels, height, width, 1);

        var l = new LayerBuilder($"resnet{depth}", seed);
        var h = l.ImageInput(channels, height, width);
        h = l.Relu(l.BatchNorm("bn1", l.Conv("conv1", h, channels, 16, 3, 1, 1, bias: false), 16));
        int n = (depth - 2) / 6;
        long inPlanes = 16;
        long[] widths = [16, 32, 64];
        for (int stage = 0; stage < 3; stage++)
        {
            for (int i = 0; i < n; i++)
            {
                long stride = stage > 0 && i == 0 ? 2 : 1;
                h = BasicBlock(l, $"layer{stage + 1}.{i}", h, inPlanes, widths[stage], stride, shortcut);
                inPlanes = widths[stage];
            }
        }
        h = l.Flatten(l.B.Op("GlobalAveragePool", [h]));
        l.Linear("fc", h, 64, classes, ModelNames.Output);
        return l.Finish(classes, $"ResNet-{depth} (CIFAR, shortcut option {shortcut}) for {channels}x{height}x{width}, {classes} classes, seed {seed}");
    }

    private static string BasicBlock(LayerBuilder l, string name, string x, long inPlanes, long planes, long stride, ResNetShortcut shortcut)
    {
        var h = l.Relu(l.BatchNorm($"{name}.bn1", l.Conv($"{name}.conv1", x, inPlanes, planes, 3, stride, 1, bias: false), planes));
        h = l.BatchNorm($"{name}.bn2", l.Conv($"{name}.conv2", h, planes, planes, 3, 1, 1, bias: false), planes);
        string sc = x;
        if (stride != 1 || inPlanes != planes)
        {
            if (shortcut == ResNetShortcut.B)
            {
                sc = l.BatchNorm($"{name}.shortcut.1", l.Conv($"{name}.shortcut.0", x, inPlanes, planes, 1, stride, 0, bias: false), planes);
            }
            else
            {
                // x[:, :, ::2, ::2] then zero channels on both sides, as the LDAM code's LambdaLayer. The block
                // structure only changes width together with stride 2, so (planes - inPlanes) / 2 = planes / 4.
                var b = l.B;
                var sliced = b.Op("Slice", [x,
                    b.ConstInt64($"{name}.shortcut.starts", 0, 0),
                    b.ConstInt64($"{name}.shortcut.ends", long.MaxValue, long.MaxValue),
                    b.ConstInt64($"{name}.shortcut.axes", 2, 3),
                    b.ConstInt64($"{name}.shortcut.steps", stride, stride)]);
                long before = (planes - inPlanes) / 2, after = planes - inPlanes - before;
                sc = b.Op("Pad", [sliced, b.ConstInt64($"{name}.shortcut.pads", 0, before, 0, 0, 0, after, 0, 0)],
                    Attr.String("mode", "constant"));
            }
        }
        return l.Relu(l.B.Op("Add", [h, sc]));
    }
}
