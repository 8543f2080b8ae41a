namespace Acwa.Onnx.Tests.Data;

/// <summary>
/// A fact on the real Fashion-MNIST files from Debian's <c>dataset-fashion-mnist</c>. It is not skipped when they are
/// missing: .ci/run installs the package, so a missing file is a failure whose message says how to install it.
/// </summary>
public sealed class FashionMnistFactAttribute : FactAttribute
{
}
