using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Acwa.Onnx.Metrics;

/// <summary>
/// bfloat16 -> fp32 conversion. A bfloat16 is the upper 16 bits of an fp32 (sign, 8-bit exponent, 7-bit mantissa), so the
/// conversion is exact: widen each 16-bit pattern to 32 bits and shift it left by 16. NaN patterns stay NaN, infinities and
/// signed zeros are kept. The vector paths widen 16-bit lanes to 32-bit lanes and shift; the scalar path is the reference.
/// </summary>
internal static class BFloat16Kernel
{
    /// <summary>Converts <paramref name="bits"/> (bfloat16 bit patterns) to fp32 in <paramref name="dst"/> (same length).</summary>
    public static void ToSingle(ReadOnlySpan<ushort> bits, Span<float> dst, KernelPath path)
    {
        if (dst.Length != bits.Length) throw new ArgumentException($"destination length {dst.Length} != source length {bits.Length}", nameof(dst));
        var outBits = MemoryMarshal.Cast<float, uint>(dst);
        int i = 0, n = bits.Length;
        switch (path)
        {
            case KernelPath.Vector512:
                for (; i <= n - Vector512<ushort>.Count; i += Vector512<ushort>.Count)
                {
                    var (lo, hi) = Vector512.Widen(Vector512.Create(bits.Slice(i, Vector512<ushort>.Count)));
                    Vector512.ShiftLeft(lo, 16).CopyTo(outBits.Slice(i));
                    Vector512.ShiftLeft(hi, 16).CopyTo(outBits.Slice(i + Vector512<uint>.Count));
                }
                break;
            case KernelPath.Vector256:
                for (; i <= n - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
                {
                    var (lo, hi) = Vector256.Widen(Vector256.Create(bits.Slice(i, Vector256<ushort>.Count)));
                    Vector256.ShiftLeft(lo, 16).CopyTo(outBits.Slice(i));
                    Vector256.ShiftLeft(hi, 16).CopyTo(outBits.Slice(i + Vector256<uint>.Count));
                }
                break;
            case KernelPath.Vector128:
                for (; i <= n - Vector128<ushort>.Count; i += Vector128<ushort>.Count)
                {
                    var (lo, hi) = Vector128.Widen(Vector128.Create(bits.Slice(i, Vector128<ushort>.Count)));
                    Vector128.ShiftLeft(lo, 16).CopyTo(outBits.Slice(i));
                    Vector128.ShiftLeft(hi, 16).CopyTo(outBits.Slice(i + Vector128<uint>.Count));
                }
                break;
        }
        for (; i < n; i++) outBits[i] = (uint)bits[i] << 16;
    }
}
