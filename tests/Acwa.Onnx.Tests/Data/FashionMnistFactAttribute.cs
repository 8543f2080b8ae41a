namespace Acwa.Onnx.Tests.Data;

/// <summary>
/// A fact on Fashion-MNIST as <c>fashion-mnist</c> loads it on this machine: the full set from Debian's
/// <c>dataset-fashion-mnist</c> when installed (.ci/run installs it), else the subset embedded in Acwa.Onnx. Never
/// skipped: each such test asserts the exact sizes of whichever set it got (<see cref="Acwa.Onnx.Data.FashionMnist.DefaultOrigin"/>).
/// </summary>
public sealed class FashionMnistFactAttribute : FactAttribute
{
}
