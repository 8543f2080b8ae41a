using System.Globalization;

namespace Acwa.Onnx.Training.Runtime;

/// <summary>
/// An execution device: <c>cpu</c>, <c>cuda</c> (= <c>cuda:0</c>) or <c>cuda:N</c>. Parsing is case-insensitive and
/// ignores surrounding white space; <see cref="ToString"/> gives the canonical form (<c>cpu</c>, <c>cuda:N</c>).
/// </summary>
/// <param name="Kind">CPU or CUDA.</param>
/// <param name="Index">Device ordinal (always 0 for the CPU).</param>
public readonly record struct Device(DeviceKind Kind, int Index)
{
    /// <summary>The host CPU.</summary>
    public static Device Cpu => new(DeviceKind.Cpu, 0);

    /// <summary>The CUDA device with ordinal <paramref name="index"/> (0 or more).</summary>
    public static Device Cuda(int index = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return new(DeviceKind.Cuda, index);
    }

    /// <summary>True for a CUDA device.</summary>
    public bool IsCuda => Kind == DeviceKind.Cuda;

    /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>; a <see cref="FormatException"/> names the bad string.</summary>
    public static Device Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var d)
            ? d
            : throw new FormatException($"'{text}' is not a device: expected 'cpu', 'cuda' or 'cuda:N' with N a device ordinal 0 or more");
    }

    /// <summary>Parses like <see cref="Parse"/>, returning false instead of throwing.</summary>
    public static bool TryParse(string? text, out Device device)
    {
        device = default;
        if (text is null) return false;
        var s = text.Trim();
        if (s.Equals("cpu", StringComparison.OrdinalIgnoreCase)) { device = Cpu; return true; }
        if (s.Equals("cuda", StringComparison.OrdinalIgnoreCase)) { device = Cuda(0); return true; }
        if (s.StartsWith("cuda:", StringComparison.OrdinalIgnoreCase)
            && int.TryParse(s.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var idx))
        {
            device = Cuda(idx);
            return true;
        }
        return false;
    }

    /// <summary>The canonical name: <c>cpu</c> or <c>cuda:N</c>.</summary>
    public override string ToString() => Kind == DeviceKind.Cpu ? "cpu" : $"cuda:{Index.ToString(CultureInfo.InvariantCulture)}";
}
