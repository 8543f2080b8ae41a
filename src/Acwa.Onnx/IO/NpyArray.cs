using System.Runtime.InteropServices;

namespace Acwa.Onnx.IO;

/// <summary>An array read from a <c>.npy</c> file: element type, C-order shape and the raw little-endian data.</summary>
public sealed class NpyArray
{
    private readonly byte[] _data;

    internal NpyArray(string source, NpyDType dtype, long[] shape, byte[] data)
    {
        Source = source;
        DType = dtype;
        Shape = shape;
        _data = data;
        long n = 1;
        foreach (var d in shape) n *= d;
        Length = n;
    }

    /// <summary>Where the array came from (the file path), used in error messages.</summary>
    public string Source { get; }

    /// <summary>Element type.</summary>
    public NpyDType DType { get; }

    /// <summary>Dimensions, C order (last index fastest). Empty for a scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>Number of elements (product of <see cref="Shape"/>).</summary>
    public long Length { get; }

    /// <summary>Raw element bytes, little-endian, C order.</summary>
    public ReadOnlySpan<byte> RawData => _data;

    /// <summary>The values as 64-bit integers. Allowed for integer and bool arrays.</summary>
    /// <exception cref="InvalidDataException">The array holds floats.</exception>
    public long[] ToInt64Array()
    {
        var r = new long[Length];
        switch (DType)
        {
            case NpyDType.Int64: MemoryMarshal.Cast<byte, long>(_data).CopyTo(r); break;
            case NpyDType.Int32: { var s = MemoryMarshal.Cast<byte, int>(_data); for (int i = 0; i < s.Length; i++) r[i] = s[i]; break; }
            case NpyDType.UInt8 or NpyDType.Bool: for (int i = 0; i < _data.Length; i++) r[i] = _data[i]; break;
            default: throw new InvalidDataException($"{Source}: dtype {DType} cannot be read as integers");
        }
        return r;
    }

    /// <summary>The values as 32-bit integers. Allowed for integer and bool arrays; int64 values must fit.</summary>
    /// <exception cref="InvalidDataException">The array holds floats, or an int64 value does not fit (the message names the element index).</exception>
    public int[] ToInt32Array()
    {
        if (DType == NpyDType.Int32) return MemoryMarshal.Cast<byte, int>(_data).ToArray();
        var l = ToInt64Array();
        var r = new int[l.Length];
        for (int i = 0; i < l.Length; i++)
        {
            if (l[i] is < int.MinValue or > int.MaxValue) throw new InvalidDataException($"{Source}: element {i} = {l[i]} does not fit in 32 bits");
            r[i] = (int)l[i];
        }
        return r;
    }

    /// <summary>The values as fp32. Allowed for every dtype; fp64 and int64 values are rounded to the nearest fp32.</summary>
    public float[] ToSingleArray()
    {
        if (DType == NpyDType.Float32) return MemoryMarshal.Cast<byte, float>(_data).ToArray();
        var r = new float[Length];
        if (DType == NpyDType.Float64)
        {
            var s = MemoryMarshal.Cast<byte, double>(_data);
            for (int i = 0; i < s.Length; i++) r[i] = (float)s[i];
            return r;
        }
        var l = ToInt64Array();
        for (int i = 0; i < l.Length; i++) r[i] = l[i];
        return r;
    }
}
