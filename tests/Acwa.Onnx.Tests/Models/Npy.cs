using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Acwa.Onnx.Tests.Models;

/// <summary>Minimal reader of NumPy .npy files (version 1/2/3, C order, little-endian float32 / float64 / int64).</summary>
internal sealed record Npy(string Dtype, long[] Shape, byte[] Data)
{
    public static Npy Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
            throw new InvalidDataException($"'{path}' is not a .npy file");
        int major = bytes[6];
        int headerLength, offset;
        if (major == 1) { headerLength = BitConverter.ToUInt16(bytes, 8); offset = 10; }
        else { headerLength = (int)BitConverter.ToUInt32(bytes, 8); offset = 12; }
        var header = Encoding.Latin1.GetString(bytes, offset, headerLength);
        var descr = Regex.Match(header, @"'descr':\s*'([^']+)'").Groups[1].Value;
        if (Regex.IsMatch(header, @"'fortran_order':\s*True")) throw new InvalidDataException($"'{path}': Fortran order is not supported");
        var shapeText = Regex.Match(header, @"'shape':\s*\(([^)]*)\)").Groups[1].Value;
        var shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        var data = bytes.AsSpan(offset + headerLength).ToArray();
        return new Npy(descr, shape, data);
    }

    public float[] Floats() => Dtype switch
    {
        "<f4" => MemoryMarshal.Cast<byte, float>(Data).ToArray(),
        "<f8" => MemoryMarshal.Cast<byte, double>(Data).ToArray().Select(v => (float)v).ToArray(),
        _ => throw new InvalidDataException($"dtype {Dtype} is not a float type"),
    };

    public long[] Int64s() => Dtype == "<i8" ? MemoryMarshal.Cast<byte, long>(Data).ToArray() : throw new InvalidDataException($"dtype {Dtype} is not int64");
}
