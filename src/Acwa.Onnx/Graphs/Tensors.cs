using System.Runtime.InteropServices;
using Acwa.Onnx.Graphs.Proto;
using Google.Protobuf;

namespace Acwa.Onnx.Graphs;

/// <summary>Builds and reads <see cref="TensorProto"/> values (raw little-endian data).</summary>
public static class Tensors
{
    /// <summary>An fp32 tensor.</summary>
    public static TensorProto Float(string name, long[] dims, ReadOnlySpan<float> data)
    {
        CheckCount(name, dims, data.Length);
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data));
        return t;
    }

    /// <summary>An fp64 tensor.</summary>
    public static TensorProto Double(string name, long[] dims, ReadOnlySpan<double> data)
    {
        CheckCount(name, dims, data.Length);
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Double };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data));
        return t;
    }

    /// <summary>An int64 tensor.</summary>
    public static TensorProto Int64(string name, long[] dims, ReadOnlySpan<long> data)
    {
        CheckCount(name, dims, data.Length);
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data));
        return t;
    }

    /// <summary>A bool tensor.</summary>
    public static TensorProto Bool(string name, long[] dims, ReadOnlySpan<bool> data)
    {
        CheckCount(name, dims, data.Length);
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Bool };
        t.Dims.AddRange(dims);
        var bytes = new byte[data.Length];
        for (int i = 0; i < data.Length; i++) bytes[i] = data[i] ? (byte)1 : (byte)0;
        t.RawData = ByteString.CopyFrom(bytes);
        return t;
    }

    /// <summary>Number of elements of a shape (1 for a scalar).</summary>
    public static long ElementCount(IEnumerable<long> dims)
    {
        long n = 1;
        foreach (var d in dims) n *= d;
        return n;
    }

    /// <summary>Reads an fp32 tensor's values (raw_data or float_data).</summary>
    public static float[] ToFloats(TensorProto t)
    {
        if (t.DataType != (int)TensorProto.Types.DataType.Float)
            throw new InvalidDataException($"tensor '{t.Name}' has data type {t.DataType}, expected FLOAT (1)");
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
            throw new InvalidDataException($"tensor '{t.Name}' keeps its data in an external file; load the model with OnnxModel.Load to resolve it");
        long n = ElementCount(t.Dims);
        if (t.RawData.Length > 0)
        {
            if (t.RawData.Length != n * 4)
                throw new InvalidDataException($"tensor '{t.Name}': raw_data holds {t.RawData.Length} bytes, shape [{string.Join(",", t.Dims)}] needs {n * 4}");
            return MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();
        }
        if (t.FloatData.Count != n)
            throw new InvalidDataException($"tensor '{t.Name}': float_data holds {t.FloatData.Count} values, shape [{string.Join(",", t.Dims)}] needs {n}");
        return t.FloatData.ToArray();
    }

    /// <summary>Reads an int64 tensor's values (raw_data or int64_data).</summary>
    public static long[] ToInt64s(TensorProto t)
    {
        if (t.DataType != (int)TensorProto.Types.DataType.Int64)
            throw new InvalidDataException($"tensor '{t.Name}' has data type {t.DataType}, expected INT64 (7)");
        long n = ElementCount(t.Dims);
        if (t.RawData.Length > 0)
        {
            if (t.RawData.Length != n * 8)
                throw new InvalidDataException($"tensor '{t.Name}': raw_data holds {t.RawData.Length} bytes, shape needs {n * 8}");
            return MemoryMarshal.Cast<byte, long>(t.RawData.Span).ToArray();
        }
        return t.Int64Data.ToArray();
    }

    private static void CheckCount(string name, long[] dims, int count)
    {
        long n = ElementCount(dims);
        if (n != count)
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(",", dims)}] has {n} elements but {count} values were given");
    }
}
