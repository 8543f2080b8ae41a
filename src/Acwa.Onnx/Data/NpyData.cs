using System.Globalization;
using Acwa.Onnx.IO;

namespace Acwa.Onnx.Data;

/// <summary>
/// Datasets in .npy files (<c>npy:X.npy,Y.npy[,XTEST.npy,YTEST.npy]</c>): X <c>[N, ...]</c> and Y 1-D integer labels.
/// uint8 X of shape <c>[N, H, W]</c> or <c>[N, C, H, W]</c> are images (<see cref="Images"/>); other X are samples fed as
/// they are (<see cref="SampleDataset.FromNpy"/>). Classes are <c>0 .. max label</c> over the label files, named by their
/// numbers.
/// </summary>
public static class NpyData
{
    /// <summary>
    /// Reads X and checks it against its labels <paramref name="y"/> (read from <paramref name="labelsPath"/> by
    /// <see cref="NpyFile.ReadLabels"/>): N samples, N labels each in <c>[0, classes)</c>.
    /// </summary>
    /// <exception cref="InvalidDataException">Wrong shapes or types, or a label out of range; the message names the file and index.</exception>
    public static NpyArray ReadSamples(string samplesPath, int[] y, string labelsPath, int classes)
    {
        var x = NpyFile.Read(samplesPath);
        if (x.Shape.Count < 2 || x.Shape[0] != y.Length)
            throw new InvalidDataException($"{samplesPath}: expected [N, ...] with N = {y.Length} (labels in {labelsPath}), got ({string.Join(", ", x.Shape)})");
        for (int i = 0; i < y.Length; i++)
            if ((uint)y[i] >= (uint)classes)
                throw new InvalidDataException($"{labelsPath}: label {y[i]} at index {i} is outside [0, {classes})");
        return x;
    }

    /// <summary>Largest label plus one (the class count the labels of <paramref name="labelsPath"/> imply).</summary>
    /// <exception cref="InvalidDataException">A negative label (named with its file and index).</exception>
    public static int LabelCount(int[] y, string labelsPath)
    {
        int bad = Array.FindIndex(y, v => v < 0);
        if (bad >= 0) throw new InvalidDataException($"{labelsPath}: label {y[bad]} at index {bad} is negative");
        return y.Length == 0 ? 0 : y.Max() + 1;
    }

    /// <summary>The class names <c>0 .. classes - 1</c>.</summary>
    public static string[] ClassNames(int classes) =>
        Enumerable.Range(0, classes).Select(c => c.ToString(CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Whether <paramref name="x"/> holds images: uint8 <c>[N, H, W]</c> or <c>[N, C, H, W]</c>.</summary>
    public static bool IsImages(NpyArray x) => x.DType == NpyDType.UInt8 && x.Shape.Count is 3 or 4;

    /// <summary>uint8 images <c>[N, H, W]</c> (one channel) or <c>[N, C, H, W]</c> as an <see cref="ImageDataset"/>.</summary>
    /// <exception cref="InvalidDataException">Not such an array.</exception>
    public static ImageDataset Images(NpyArray x, int[] labels, IReadOnlyList<string> classNames, string source)
    {
        if (!IsImages(x)) throw new InvalidDataException($"{source}: images must be uint8 [N, H, W] or [N, C, H, W], got {x.DType} ({string.Join(", ", x.Shape)})");
        var s = x.Shape;
        int c = s.Count == 4 ? checked((int)s[1]) : 1, h = checked((int)s[^2]), w = checked((int)s[^1]);
        return new ImageDataset(x.RawData.ToArray(), labels, c, h, w, classNames, source);
    }
}
