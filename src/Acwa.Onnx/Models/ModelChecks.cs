namespace Acwa.Onnx.Models;

/// <summary>Argument checks shared by the model builders.</summary>
internal static class ModelChecks
{
    public static void Classes(int classes)
    {
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes), classes, $"a classifier needs at least 2 classes, got {classes}");
    }

    public static void Input(int channels, int height, int width, int minSide)
    {
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels), channels, $"input channels must be at least 1, got {channels}");
        if (height < minSide) throw new ArgumentOutOfRangeException(nameof(height), height, $"input height must be at least {minSide}, got {height}");
        if (width < minSide) throw new ArgumentOutOfRangeException(nameof(width), width, $"input width must be at least {minSide}, got {width}");
    }
}
