using Acwa.Onnx.Graphs;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Tests.Graphs;

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
        var model = OnnxModel.Create(b.Graph);
        File.WriteAllText(path + ".data", "an older save's data file"); // the pre-2026-11-27 name; replaced like the others
        OnnxModel.Save(model, path, forceExternal: true);
        var first = Assert.Single(Directory.GetFiles(dir, "m.onnx.*data"));
        Assert.Matches(@"m\.onnx\.[0-9a-f]{16}\.data$", first);
        var loaded = OnnxModel.Load(path);
        Assert.Equal(511f, Tensors.ToFloats(loaded.Graph.Initializer[0])[511]);
        using (var s = new InferenceSession(path)) Assert.Single(s.OutputMetadata);

        // New weights go to a data file of another name (the model on disk keeps matching its data until it is replaced);
        // the old data file is removed once the new model is in place. Saving the same weights again reuses the name.
        model.Graph.Initializer[0] = Tensors.Float("w", [512], Enumerable.Range(0, 512).Select(i => -(float)i).ToArray());
        OnnxModel.Save(model, path, forceExternal: true);
        var second = Assert.Single(Directory.GetFiles(dir, "m.onnx.*data"));
        Assert.NotEqual(first, second);
        Assert.Equal(-511f, Tensors.ToFloats(OnnxModel.Load(path).Graph.Initializer[0])[511]);
        OnnxModel.Save(model, path, forceExternal: true);
        Assert.Equal(second, Assert.Single(Directory.GetFiles(dir, "m.onnx.*data")));
        File.WriteAllText(Path.Combine(dir, "m.onnx.notes.data"), "not ours"); // other files are left alone
        OnnxModel.Save(model, path, forceExternal: false);
        Assert.Equal([Path.Combine(dir, "m.onnx.notes.data")], Directory.GetFiles(dir, "m.onnx.*data"));
        Directory.Delete(dir, recursive: true);
    }
}
