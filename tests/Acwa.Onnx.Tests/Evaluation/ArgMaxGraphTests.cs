using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Tests.Evaluation;

public class ArgMaxGraphTests
{
    [Fact]
    public void ArgMaxOutputEqualsHostArgMaxIncludingTies()
    {
        // Identity "classifier", so the test controls the logits exactly: ties, negative values, +-inf.
        var b = new GraphBuilder("id");
        var x = b.Input("x", ElementType.Float, null, 5);
        b.OutputAs(x, "logits", ElementType.Float, null, 5);
        var model = OnnxModel.Create(b.Graph);
        var wrapped = ClassifierGraphs.WithArgMaxOutput(model, "logits");
        Assert.Single(model.Graph.Output); // input model untouched
        Assert.Equal(["logits", ClassifierGraphs.PredictionsOutput], wrapped.Graph.Output.Select(o => o.Name));

        var rng = new Random(5);
        int n = 300;
        var logits = new float[n * 5];
        for (int i = 0; i < logits.Length; i++) logits[i] = rng.Next(4) - 2; // few distinct values: many ties
        logits[7] = float.PositiveInfinity;
        logits[13] = float.NegativeInfinity;
        using var session = new InferenceSession(OnnxModel.ToBytes(wrapped));
        using var input = OrtValue.CreateTensorValueFromMemory(logits, [n, 5]);
        using var outputs = session.Run(SharedRunOptions.Default, ["x"], [input], [ClassifierGraphs.PredictionsOutput]);
        var got = outputs[0].GetTensorDataAsSpan<long>().ToArray();

        var host = new Acwa.Onnx.Metrics.ConfusionMatrix(5);
        var labels = new int[n];
        host.AccumulateLogits(labels, logits); // label 0 everywhere: row 0 of the matrix counts host predictions
        var fromGraph = new Acwa.Onnx.Metrics.ConfusionMatrix(5);
        fromGraph.Accumulate(new long[n], got);
        Assert.Equal(host.ToArray(), fromGraph.ToArray());
        for (int i = 0; i < n; i++)
        {
            int best = 0;
            for (int j = 1; j < 5; j++) if (logits[i * 5 + j] > logits[i * 5 + best]) best = j;
            Assert.Equal(best, got[i]);
        }
    }

    [Fact]
    public void WrappingNeedsAnExistingOutputAndAFreeName()
    {
        var model = EvalModels.Linear(1, 2, 2, 2);
        Assert.Contains("'nope' is not an output", Assert.Throws<ArgumentException>(() => ClassifierGraphs.WithArgMaxOutput(model, "nope")).Message);
        Assert.Contains("'fc.weight' is already", Assert.Throws<ArgumentException>(() => ClassifierGraphs.WithArgMaxOutput(model, "logits", "fc.weight")).Message);
    }
}
