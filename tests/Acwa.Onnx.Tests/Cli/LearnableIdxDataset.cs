using Acwa.Onnx.Tests.Data;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>A small learnable 10-class dataset written in the real IDX format (train gzip, test raw), for CLI runs.</summary>
internal static class LearnableIdxDataset
{
    /// <summary>10 classes of 28x28 images; class c lights a 7x7 block at a class-specific place, plus noise.</summary>
    public static (byte[] Pixels, byte[] Labels) Synthetic(int perClass, int seed)
    {
        var rng = new Random(seed);
        int n = perClass * 10;
        var px = new byte[n * 784];
        var y = new byte[n];
        for (int i = 0; i < n; i++)
        {
            int c = i % 10;
            y[i] = (byte)c;
            int r0 = c / 4 * 7 + 2, c0 = c % 4 * 7;
            for (int p = 0; p < 784; p++) px[i * 784 + p] = (byte)rng.Next(0, 90);
            for (int r = 0; r < 7; r++)
                for (int q = 0; q < 7; q++)
                    px[i * 784 + (r0 + r) * 28 + c0 + q] = (byte)rng.Next(120, 256);
        }
        return (px, y);
    }

    /// <summary>Writes 600 training and 200 test images into <paramref name="dir"/>; returns the <c>idx:</c> dataset spec.</summary>
    public static string Write(TempDir dir) => Write(dir, 60, 20);

    /// <summary>Writes <paramref name="trainPerClass"/> training and <paramref name="testPerClass"/> test images per class; returns the <c>idx:</c> spec.</summary>
    public static string Write(TempDir dir, int trainPerClass, int testPerClass)
    {
        var (tx, ty) = Synthetic(trainPerClass, 1);
        var (vx, vy) = Synthetic(testPerClass, 2);
        File.WriteAllBytes(dir.File("train-images.gz"), DataFiles.Gzip(DataFiles.IdxImages(tx, ty.Length, 28, 28)));
        File.WriteAllBytes(dir.File("train-labels.gz"), DataFiles.Gzip(DataFiles.IdxLabels(ty)));
        File.WriteAllBytes(dir.File("test-images"), DataFiles.IdxImages(vx, vy.Length, 28, 28));
        File.WriteAllBytes(dir.File("test-labels"), DataFiles.IdxLabels(vy));
        return $"idx:{dir.File("train-images.gz")},{dir.File("train-labels.gz")},{dir.File("test-images")},{dir.File("test-labels")}";
    }
}
