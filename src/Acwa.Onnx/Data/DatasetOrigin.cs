namespace Acwa.Onnx.Data;

/// <summary>Where a loaded dataset's images came from (<see cref="DatasetPair.Origin"/>).</summary>
public enum DatasetOrigin
{
    /// <summary>The files or folder the spec names, or the default install location (Debian's full Fashion-MNIST).</summary>
    Files,

    /// <summary>
    /// The Fashion-MNIST subset embedded in Acwa.Onnx (<see cref="FashionMnist.LoadEmbedded"/>): what <c>fashion-mnist</c>
    /// without a folder loads when the full set is not installed.
    /// </summary>
    EmbeddedSubset,
}
