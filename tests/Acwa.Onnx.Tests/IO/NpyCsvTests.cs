using System.Buffers.Binary;
using System.Text;
using Acwa.Onnx.IO;
using Acwa.Onnx.Tests.Metrics;

namespace Acwa.Onnx.Tests.IO;

public sealed class NpyCsvTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("acwa-npy-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    [Fact]
    public void RoundTripsEveryDType()
    {
        NpyFile.Write(P("i4.npy"), new[] { 1, -2, int.MaxValue }.AsSpan());
        NpyFile.Write(P("i8.npy"), new[] { 1L, long.MinValue, 3, 4, 5, 6 }.AsSpan(), [2, 3]);
        NpyFile.Write(P("f4.npy"), new[] { 1.5f, float.NaN, float.NegativeInfinity, 0 }.AsSpan(), [2, 2]);
        NpyFile.Write(P("f8.npy"), new[] { 0.1, -2.5 }.AsSpan());
        NpyFile.Write(P("u1.npy"), new byte[] { 0, 255 }.AsSpan());
        NpyFile.Write(P("b1.npy"), new[] { true, false, true }.AsSpan());
        NpyFile.Write(P("empty.npy"), ReadOnlySpan<float>.Empty, [0, 10]);

        Assert.Equal([1, -2, int.MaxValue], NpyFile.Read(P("i4.npy")).ToInt32Array());
        var i8 = NpyFile.Read(P("i8.npy"));
        Assert.Equal(NpyDType.Int64, i8.DType);
        Assert.Equal([2L, 3], i8.Shape);
        Assert.Equal([1L, long.MinValue, 3, 4, 5, 6], i8.ToInt64Array());
        var ex = Assert.Throws<InvalidDataException>(() => i8.ToInt32Array());
        Assert.Contains("element 1", ex.Message);
        var f4 = NpyFile.Read(P("f4.npy")).ToSingleArray();
        Assert.Equal(1.5f, f4[0]); Assert.True(float.IsNaN(f4[1])); Assert.Equal(float.NegativeInfinity, f4[2]);
        Assert.Equal([0.1f, -2.5f], NpyFile.Read(P("f8.npy")).ToSingleArray());
        Assert.Equal([0, 255], NpyFile.Read(P("u1.npy")).ToInt32Array());
        Assert.Equal([1L, 0, 1], NpyFile.Read(P("b1.npy")).ToInt64Array());
        var empty = NpyFile.Read(P("empty.npy"));
        Assert.Equal(0, empty.Length);
        Assert.Equal([0L, 10], empty.Shape);
        Assert.Throws<InvalidDataException>(() => NpyFile.Read(P("f8.npy")).ToInt64Array());
        Assert.Throws<ArgumentException>(() => NpyFile.Write(P("bad.npy"), new[] { 1, 2, 3 }.AsSpan(), [2, 2]));
        Assert.Equal(0, (File.ReadAllBytes(P("i4.npy")).Length - 12) % 64); // header padded to 64 bytes, 3 x 4 data bytes
    }

    [Fact]
    public void ReadsFilesWrittenByNumpy()
    {
        var a = NpyFile.Read(GoldenReportTests.Fixture("basic_logits.npy"));
        Assert.Equal(NpyDType.Float32, a.DType);
        Assert.Equal([300L, 5], a.Shape);
        Assert.Equal(NpyDType.Int32, NpyFile.Read(GoldenReportTests.Fixture("absent_labels.npy")).DType);
        Assert.Equal(NpyDType.Int64, NpyFile.Read(GoldenReportTests.Fixture("basic_labels.npy")).DType);
    }

    private static byte[] Npy(int major, string header, byte[] data)
    {
        var h = Encoding.Latin1.GetBytes(header + "\n");
        var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0]);
        if (major == 1) { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)h.Length); ms.Write(b); }
        else { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)h.Length); ms.Write(b); }
        ms.Write(h);
        ms.Write(data);
        return ms.ToArray();
    }

    [Fact]
    public void ReadsVersion2HeadersAndRejectsBadFilesNamingFileAndField()
    {
        var data = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(data, 7);
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(4), -7);
        File.WriteAllBytes(P("v2.npy"), Npy(2, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", data));
        Assert.Equal([7, -7], NpyFile.Read(P("v2.npy")).ToInt32Array());

        void Bad(string file, byte[] bytes, params string[] parts)
        {
            File.WriteAllBytes(P(file), bytes);
            var e = Assert.Throws<InvalidDataException>(() => NpyFile.Read(P(file)));
            Assert.Contains(file, e.Message);
            foreach (var p in parts) Assert.Contains(p, e.Message);
        }
        Bad("fortran.npy", Npy(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2,), }", data), "fortran_order");
        Bad("be.npy", Npy(1, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", data), "descr", "big-endian");
        Bad("u2.npy", Npy(1, "{'descr': '<u2', 'fortran_order': False, 'shape': (4,), }", data), "descr", "<u2");
        Bad("short.npy", Npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", data), "needs 12");
        Bad("noshape.npy", Npy(1, "{'descr': '<i4', 'fortran_order': False, }", data), "'shape'");
        Bad("badshape.npy", Npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, x), }", data), "'shape'");
        Bad("v9.npy", Npy(9, "{}", data), "version 9.0");
        Bad("magic.npy", Encoding.ASCII.GetBytes("not an npy file at all"), "magic");
    }

    [Fact]
    public void CsvReadsIntsAndFloatRowsAndNamesFileAndLineInErrors()
    {
        File.WriteAllText(P("y.csv"), "label\n1\n\n-2\n3\n");
        Assert.Equal([1L, -2, 3], CsvFile.ReadIntColumn(P("y.csv")));
        File.WriteAllText(P("z.csv"), "0.5,1,-inf\n2e3, 3 ,NaN\n");
        var z = CsvFile.ReadFloatRows(P("z.csv"), out int cols);
        Assert.Equal(3, cols);
        Assert.Equal(2000f, z[3]);
        Assert.True(float.IsNaN(z[5]));
        Assert.Equal(float.NegativeInfinity, z[2]);

        File.WriteAllText(P("bad.csv"), "1\n2\nx3\n");
        var e = Assert.Throws<InvalidDataException>(() => CsvFile.ReadIntColumn(P("bad.csv")));
        Assert.Contains("bad.csv:3", e.Message);
        File.WriteAllText(P("two.csv"), "1\n2,3\n");
        Assert.Contains("two.csv:2", Assert.Throws<InvalidDataException>(() => CsvFile.ReadIntColumn(P("two.csv"))).Message);
        File.WriteAllText(P("ragged.csv"), "1,2\n3,4\n5\n");
        Assert.Contains("ragged.csv:3", Assert.Throws<InvalidDataException>(() => CsvFile.ReadFloatRows(P("ragged.csv"), out _)).Message);
        File.WriteAllText(P("word.csv"), "a,b\n1,zz\n");
        var w = Assert.Throws<InvalidDataException>(() => CsvFile.ReadFloatRows(P("word.csv"), out _));
        Assert.Contains("word.csv:2", w.Message);
        Assert.Contains("field 2", w.Message);
    }
}
