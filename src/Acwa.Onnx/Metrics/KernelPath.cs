using System.Runtime.Intrinsics;

namespace Acwa.Onnx.Metrics;

/// <summary>Which implementation of a metrics kernel runs: production code dispatches to <see cref="KernelDispatch.Best"/>; tests force each path.</summary>
public enum KernelPath
{
    /// <summary>Plain scalar reference code.</summary>
    Scalar,
    /// <summary>128-bit vectors.</summary>
    Vector128,
    /// <summary>256-bit vectors.</summary>
    Vector256,
    /// <summary>512-bit vectors.</summary>
    Vector512,
}

/// <summary>Picks the widest hardware-accelerated kernel path (what `acwa bench metrics` reports).</summary>
public static class KernelDispatch
{
    /// <summary>The path production code uses on this machine.</summary>
    public static KernelPath Best { get; } =
        Vector512.IsHardwareAccelerated ? KernelPath.Vector512 :
        Vector256.IsHardwareAccelerated ? KernelPath.Vector256 :
        Vector128.IsHardwareAccelerated ? KernelPath.Vector128 : KernelPath.Scalar;

    /// <summary>Whether <paramref name="path"/> is hardware accelerated here (the scalar path always is).</summary>
    public static bool IsSupported(KernelPath path) => path switch
    {
        KernelPath.Scalar => true,
        KernelPath.Vector128 => Vector128.IsHardwareAccelerated,
        KernelPath.Vector256 => Vector256.IsHardwareAccelerated,
        KernelPath.Vector512 => Vector512.IsHardwareAccelerated,
        _ => false,
    };

    /// <summary>All paths supported on this machine, scalar first.</summary>
    public static IReadOnlyList<KernelPath> Supported { get; } =
        Enum.GetValues<KernelPath>().Where(IsSupported).ToArray();
}
