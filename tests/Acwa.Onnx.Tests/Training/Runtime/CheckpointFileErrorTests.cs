using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Acwa.Onnx.IO;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Training.Runtime;

/// <summary>
/// Tensor files (checkpoints, initial state) whose checksum is intact but whose header is malformed, truncated files, and
/// checkpoints of another model: each is an <see cref="InvalidDataException"/> naming the file and what is wrong.
/// </summary>
public sealed class CheckpointFileErrorTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A tensor file with this header JSON and data, with a correct SHA-256 trailer.</summary>
    private string Write(string name, string headerJson, byte[] data)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        var body = new List<byte>();
        body.AddRange("ACWATNS1"u8.ToArray());
        var len = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)header.Length);
        body.AddRange(len);
        body.AddRange(header);
        body.AddRange(data);
        body.AddRange(SHA256.HashData(body.ToArray()));
        var path = _dir.File(name);
        File.WriteAllBytes(path, body.ToArray());
        return path;
    }

    [Theory]
    [InlineData("""{"meta":{}}""", "'tensors'")]
    [InlineData("""[1,2]""", "not a JSON object")]
    [InlineData("""{"tensors":[{"dtype":"float32","shape":[2],"offset":0,"length":8}]}""", "entry 0")]
    [InlineData("""{"tensors":[{"name":"w","dtype":"float32","shape":"2","offset":0,"length":8}]}""", "'w'")]
    [InlineData("""{"tensors":[{"name":"w","dtype":"float32","shape":[2],"offset":"zero","length":8}]}""", "'w'")]
    [InlineData("""{"tensors":[{"name":"w","dtype":"float32","shape":[3],"offset":0,"length":8}]}""", "shape [3]")]
    [InlineData("""{"tensors":[{"name":"w","dtype":"float32","shape":[2],"offset":0,"length":-8}]}""", "outside the data section")]
    [InlineData("""{"tensors":[{"name":"w","dtype":"int64","shape":[2],"offset":0,"length":8}]}""", "shape [2]")]
    public void MalformedHeaderWithValidChecksumNamesFileAndField(string header, string expected)
    {
        var path = Write("bad.acwa", header, new byte[8]);
        var e = Assert.Throws<InvalidDataException>(() => TensorFile.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void HeaderLengthPastTheEndIsAnError()
    {
        var path = Write("long.acwa", "{}", new byte[8]);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8, 4), 0xFFFFFFF0u);
        var body = bytes.AsSpan(0, bytes.Length - 32).ToArray();
        SHA256.HashData(body).CopyTo(bytes, bytes.Length - 32);
        File.WriteAllBytes(path, bytes);
        foreach (var load in new Action[] { () => TensorFile.Load(path), () => TensorFile.LoadMeta(path) })
        {
            var e = Assert.Throws<InvalidDataException>(load);
            Assert.Contains(path, e.Message);
            Assert.Contains("header length", e.Message);
        }
    }

    /// <summary>LoadMeta reads the metadata Load returns, from the header alone (no checksum check: Load makes it).</summary>
    [Fact]
    public void LoadMetaReadsTheHeadersMetadataWithoutTheTensors()
    {
        var path = _dir.File("meta.acwa");
        TensorFile.Save(path, [HostTensor.Of("w", [2], [1f, 2f])], new System.Text.Json.Nodes.JsonObject { ["step"] = 7 });
        Assert.Equal(TensorFile.Load(path).Meta.ToJsonString(), TensorFile.LoadMeta(path).ToJsonString());
        var bytes = File.ReadAllBytes(path);
        bytes[^40] ^= 0xFF; // a tensor byte: the checksum no longer matches, the header is intact
        File.WriteAllBytes(path, bytes);
        Assert.Equal(7, TensorFile.LoadMeta(path)["step"]!.GetValue<int>());
        Assert.Contains("checksum", Assert.Throws<InvalidDataException>(() => TensorFile.Load(path)).Message);
        File.WriteAllText(path, "not a tensor file at all, but long enough to pass the length check");
        Assert.Contains("not an Acwa tensor file", Assert.Throws<InvalidDataException>(() => TensorFile.LoadMeta(path)).Message);
    }

    [Fact]
    public void TruncatedCheckpointIsAChecksumErrorAndTheRunnerKeepsItsState()
    {
        var dir = TestArtifacts.Create(4, 3, dir: Directory.CreateDirectory(_dir.File("a")).FullName);
        using var r = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var ckpt = _dir.File("c.acwa");
        r.SaveCheckpoint(ckpt);
        var bytes = File.ReadAllBytes(ckpt);
        File.WriteAllBytes(ckpt, bytes[..(bytes.Length - 7)]);
        var before = r.GetState();
        var e = Assert.Throws<InvalidDataException>(() => r.LoadCheckpoint(ckpt));
        Assert.Contains(ckpt, e.Message);
        Assert.Equal(before[0].Data, r.GetState()[0].Data);
    }

    [Fact]
    public void CheckpointOfAnotherModelNamesTheTensorAndBothShapes()
    {
        var small = TestArtifacts.Create(4, 3, dir: Directory.CreateDirectory(_dir.File("small")).FullName);
        var big = TestArtifacts.Create(5, 3, dir: Directory.CreateDirectory(_dir.File("big")).FullName);
        var ckpt = _dir.File("small.acwa");
        using (var a = new StepRunner(small, new StepRunnerOptions { IntraOpThreads = 1 })) a.SaveCheckpoint(ckpt);
        using var b = new StepRunner(big, new StepRunnerOptions { IntraOpThreads = 1 });
        var e = Assert.Throws<InvalidDataException>(() => b.LoadCheckpoint(ckpt));
        Assert.Contains(ckpt, e.Message);
        Assert.Contains("'W'", e.Message);
        Assert.Contains("[4,3]", e.Message);
        Assert.Contains("[5,3]", e.Message);
    }
}
