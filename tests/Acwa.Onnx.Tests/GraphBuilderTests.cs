using Acwa.Onnx.Graphs;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Tests;

public class GraphBuilderTests
{
    [Fact]
    public void BuiltGraphRunsInOnnxRuntime()
    {
        var b = new GraphBuilder("add");
        var x = b.Input("x", ElementType.Float, null, 3);
        var c = b.ConstFloat("c", [3], 1f, 2f, 3f);
        var y = b.Op("Add", [x, c]);
        b.OutputAs(y, "y", ElementType.Float, null, 3);
        var bytes = OnnxModel.ToBytes(OnnxModel.Create(b.Graph));
        using var s = new InferenceSession(bytes);
        var input = new DenseTensor<float>(new[] { 10f, 20f, 30f, 40f, 50f, 60f }, [2, 3]);
        using var r = s.Run([NamedOnnxValue.CreateFromTensor("x", input)]);
        Assert.Equal(new[] { 11f, 22f, 33f, 41f, 52f, 63f }, r.First().AsEnumerable<float>().ToArray());
    }

    [Fact]
    public void ExternalDataRoundTrips()
    {
        var dir = Directory.CreateTempSubdirectory("acwa-ext").FullName;
        var b = new GraphBuilder("ext");
        var x = b.Input("x", ElementType.Float, 1, 512);
        var w = b.ConstFloat("w", [512], Enumerable.Range(0, 512).Select(i => (float)i).ToArray());
        b.OutputAs(b.Op("Mul", [x, w]), "y", ElementType.Float, 1, 512);
        var path = Path.Combine(dir, "m.onnx");
        OnnxModel.Save(OnnxModel.Create(b.Graph), path, forceExternal: true);
        Assert.True(File.Exists(path + ".data"));
        var loaded = OnnxModel.Load(path);
        Assert.Equal(511f, Tensors.ToFloats(loaded.Graph.Initializer[0])[511]);
        using var s = new InferenceSession(path);
        Assert.Single(s.OutputMetadata);
    }
}
