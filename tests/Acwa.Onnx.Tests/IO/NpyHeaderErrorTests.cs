using System.Buffers.Binary;
using System.Text;
using Acwa.Cli.Commands;
using Acwa.Onnx.IO;
using Acwa.Onnx.Tests.Data;

namespace Acwa.Onnx.Tests.IO;

/// <summary>.npy headers whose shape overflows: an error naming the file and field, not an OverflowException.</summary>
public sealed class NpyHeaderErrorTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string WriteHeaderOnly(string name, string shape, string descr = "<f4")
    {
        var header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        header += new string(' ', 63 - (header.Length + 10) % 64) + "\n";
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 };
        var len = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length);
        bytes.AddRange(len);
        bytes.AddRange(Encoding.Latin1.GetBytes(header));
        var path = _dir.File(name);
        File.WriteAllBytes(path, bytes.ToArray());
        return path;
    }

    [Theory]
    [InlineData("(1099511627776, 1099511627776)", "<f4")]
    [InlineData("(2305843009213693952,)", "<i8")]
    public void ShapeWhoseSizeOverflowsNamesFileAndField(string shape, string descr)
    {
        var path = WriteHeaderOnly("huge.npy", shape, descr);
        var e = Assert.Throws<InvalidDataException>(() => NpyFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("'shape'", e.Message);

        var labels = _dir.File("y.csv");
        File.WriteAllText(labels, "0\n1\n");
        var err = new StringWriter();
        Assert.Equal(2, MetricsCommand.Run(new MetricsOptions(labels, Logits: path), new StringWriter(), err));
        Assert.Contains(path, err.ToString());
    }
}
