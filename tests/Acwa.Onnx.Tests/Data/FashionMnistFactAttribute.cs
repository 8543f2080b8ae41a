using Acwa.Onnx.Data;

namespace Acwa.Onnx.Tests.Data;

/// <summary>A fact that is skipped, with the reason, when the Debian Fashion-MNIST files are not installed.</summary>
public sealed class FashionMnistFactAttribute : FactAttribute
{
    public FashionMnistFactAttribute()
    {
        if (!FashionMnist.IsAvailable())
            Skip = $"Fashion-MNIST IDX files are not in {FashionMnist.DefaultDirectory}; install them with `apt-get install dataset-fashion-mnist`";
    }
}
