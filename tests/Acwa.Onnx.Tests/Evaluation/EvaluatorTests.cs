using Acwa.Onnx.Data;
using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Metrics;

namespace Acwa.Onnx.Tests.Evaluation;

public class EvaluatorTests
{
    [Theory]
    [InlineData(true, 8)]
    [InlineData(false, 8)]
    [InlineData(true, 1000)]
    [InlineData(false, 5)]
    public void EvaluatorEqualsDirectSessionRun(bool argMaxInGraph, int batch)
    {
        var model = EvalModels.Linear(2, 5, 5, 4);
        var data = EvalModels.Data(77, 2, 5, 5, 4); // 77 = 9 x 8 + 5: a short last batch
        var norm = new Normalization([0.4f, 0.5f], [0.25f, 0.3f]);
        using var e = new Evaluator(model, new EvaluatorOptions { BatchSize = batch, ArgMaxInGraph = argMaxInGraph, IntraOpThreads = 1 });
        var r = e.Evaluate(data, norm);
        var expected = EvalModels.Direct(model, data, norm, 4);
        Assert.Equal(expected.ToArray(), r.Matrix.ToArray());
        Assert.Equal(77, r.Images);
        Assert.Equal(77, r.Matrix.Total);
        Assert.Equal(["c0", "c1", "c2", "c3"], r.Report.Classes.Select(c => c.Name));
        // repeatable on the same evaluator (reused buffers and bindings)
        Assert.Equal(expected.ToArray(), e.Evaluate(data, norm).Matrix.ToArray());
    }

    [Fact]
    public void PreprocessedFloatImagesAreFedAsTheyAre()
    {
        var model = EvalModels.Linear(1, 3, 3, 3);
        var data = EvalModels.Data(20, 1, 3, 3, 3);
        var norm = Normalization.Scale01(1);
        var x = new float[20 * 9];
        for (int i = 0; i < x.Length; i++) x[i] = data.Pixels[i] / 255f;
        using var e = new Evaluator(model, new EvaluatorOptions { BatchSize = 6 });
        var r = e.Evaluate(x, data.Labels.ToArray(), 1, 3, 3);
        Assert.Equal(EvalModels.Direct(model, data, norm, 3).ToArray(), r.Matrix.ToArray());
    }

    [Fact]
    public void NonBatchByClassOutputIsAnErrorNamingTheShape()
    {
        var b = new GraphBuilder("bad");
        var x = b.Input("x", ElementType.Float, null, 1, 4, 4);
        b.OutputAs(b.Op("Reshape", [x, b.ConstInt64("shape", -1, 4, 2, 2)]), "scores", ElementType.Float, null, 4, 2, 2);
        var e = Assert.Throws<InvalidDataException>(() => new Evaluator(OnnxModel.Create(b.Graph)));
        Assert.Contains("'scores'", e.Message);
        Assert.Contains("[N, 4, 2, 2]", e.Message);
        Assert.Contains("[N, C]", e.Message);
    }

    [Fact]
    public void SymbolicClassCountIsAnError()
    {
        var b = new GraphBuilder("bad");
        var x = b.Input("x", ElementType.Float, null, 4);
        b.OutputAs(x, "logits", ElementType.Float, null, null);
        var e = Assert.Throws<InvalidDataException>(() => new Evaluator(OnnxModel.Create(b.Graph)));
        Assert.Contains("[N, N]", e.Message);
    }

    [Fact]
    public void ImagesThatDoNotFitTheInputAndBadLabelsAreErrors()
    {
        using var e = new Evaluator(EvalModels.Linear(1, 4, 4, 3));
        var wrong = EvalModels.Data(5, 1, 3, 3, 3);
        Assert.Contains("1x3x3", Assert.Throws<ArgumentException>(() => e.Evaluate(wrong)).Message);
        var tooMany = EvalModels.Data(5, 1, 4, 4, 5);
        Assert.Contains("label of sample 0 is 3", Assert.Throws<ArgumentException>(() => e.Evaluate(tooMany)).Message);
    }

    [Fact]
    public void MetadataGivesOutputNormalizationAndClassNames()
    {
        // Two outputs; the logits are the second one, so only acwa.output can pick them.
        var model = EvalModels.Linear(1, 4, 4, 3);
        var g = model.Graph;
        var b = new GraphBuilder(g);
        b.OutputAs(b.Op("Softmax", ["logits"], Attr.Int("axis", 1)), "probs", ElementType.Float, null, 3);
        (g.Output[0], g.Output[1]) = (g.Output[1], g.Output[0]);
        var norm = new Normalization([0.3f], [0.2f]);
        new ClassifierMetadata(norm, ["cat", "dog", "eel"], "x", "logits").WriteTo(model);

        var back = ClassifierMetadata.Read(OnnxModel.FromBytes(OnnxModel.ToBytes(model)));
        Assert.Equal(norm.Mean, back.Normalization!.Mean);
        Assert.Equal(norm.Std, back.Normalization.Std);
        Assert.Equal(["cat", "dog", "eel"], back.ClassNames);
        Assert.Equal(("x", "logits"), (back.Input, back.Output));
        Assert.Equal(4, model.MetadataProps.Count);

        var data = EvalModels.Data(30, 1, 4, 4, 3);
        using var e = new Evaluator(model);
        Assert.Equal("logits", e.OutputName);
        var r = e.Evaluate(data); // normalisation from metadata
        Assert.Equal(EvalModels.Direct(model, data, norm, 3).ToArray(), r.Matrix.ToArray());
        Assert.Equal(["cat", "dog", "eel"], r.Report.Classes.Select(c => c.Name));
        // no metadata normalisation: x/255
        model.MetadataProps.Clear();
        using var plain = new Evaluator(model, new EvaluatorOptions { Output = "logits" });
        Assert.Equal(EvalModels.Direct(model, data, Normalization.Scale01(1), 3).ToArray(), plain.Evaluate(data).Matrix.ToArray());
    }

    [Theory]
    [InlineData("{\"mean\":[0.5]}", "no 'std' array")]
    [InlineData("{\"mean\":[0.5],\"std\":[0]}", "std")]
    [InlineData("mean=0.5", "acwa.normalization")]
    public void MalformedNormalizationMetadataNamesTheKey(string value, string fragment)
    {
        var model = EvalModels.Linear(1, 2, 2, 2);
        model.MetadataProps.Add(new StringStringEntryProto { Key = ClassifierMetadata.NormalizationKey, Value = value });
        var e = Assert.Throws<InvalidDataException>(() => ClassifierMetadata.Read(model));
        Assert.Contains(ClassifierMetadata.NormalizationKey, e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void ClassNameCountMustMatchTheOutput()
    {
        var model = EvalModels.Linear(1, 2, 2, 3);
        model.MetadataProps.Add(new StringStringEntryProto { Key = ClassifierMetadata.ClassNamesKey, Value = "a,b" });
        Assert.Contains("names 2 classes but output 'logits' has 3", Assert.Throws<InvalidDataException>(() => new Evaluator(model)).Message);
    }
}
