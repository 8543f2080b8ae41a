using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.IO;
using Acwa.Onnx.Metrics;
using Acwa.Onnx.Tests.Models;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Tests.Evaluation;

/// <summary>
/// The evaluator on models that do not take images: float sequences ([N, T, F], an LSTM exported by PyTorch) and int64
/// token ids ([N, T], a transformer text classifier), through the library and `acwa eval npy:`. The confusion counts equal
/// those of one plain ONNX Runtime run over all samples.
/// </summary>
public sealed class SequenceEvaluatorTests : IDisposable
{
    private readonly string _dir = EvalModels.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>53 samples made from the fixture's 8 (rows repeated, sequences perturbed), labels cycling over 3 classes.</summary>
    private static (float[] X, long[] Ids, int[] Y, int[] Sample) Data(string fixture, int n = 53)
    {
        var x = Npy.Read(ModelTestUtil.Fixture($"{fixture}/x.npy"));
        int[] sample = x.Shape.Skip(1).Select(d => (int)d).ToArray();
        int size = sample.Aggregate(1, (a, d) => a * d), rows = (int)x.Shape[0];
        var y = Enumerable.Range(0, n).Select(i => (i * 7) % 3).ToArray();
        if (x.Dtype == "<i8")
        {
            var ids = x.Int64s();
            return ([], Enumerable.Range(0, n * size).Select(i => ids[(i / size * 5 % rows) * size + i % size]).ToArray(), y, sample);
        }
        var f = x.Floats();
        return (Enumerable.Range(0, n * size).Select(i => f[(i / size * 5 % rows) * size + i % size] * (1 + 0.1f * (i / size % 4))).ToArray(), [], y, sample);
    }

    private static ConfusionMatrix Direct(string fixture, OrtValue input, int[] labels, int classes)
    {
        using var session = new InferenceSession(ModelTestUtil.Fixture($"{fixture}.onnx"));
        using var outputs = session.Run(SharedRunOptions.Default, [session.InputNames[0]], [input], [session.OutputNames[0]]);
        var m = new ConfusionMatrix(classes);
        m.AccumulateLogits(labels, outputs[0].GetTensorDataAsSpan<float>());
        return m;
    }

    [Theory]
    [InlineData("tiny_lstm")] // float sequences [N, 5, 3]
    [InlineData("tiny_text")] // int64 token ids [N, 6]
    public void SamplesGiveTheCountsOfOneDirectRun(string fixture)
    {
        var (x, ids, y, sample) = Data(fixture);
        using var e = Evaluator.Load(ModelTestUtil.Fixture($"{fixture}.onnx"), new EvaluatorOptions { BatchSize = 16 });
        bool tokens = ids.Length > 0;
        Assert.Equal(tokens ? Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64 : Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float, e.InputType);
        var r = tokens ? e.Evaluate(ids, y, sample) : e.Evaluate(x, y, sample);
        long[] shape = [y.Length, .. sample.Select(d => (long)d)];
        using var input = tokens ? OrtValue.CreateTensorValueFromMemory(ids, shape) : OrtValue.CreateTensorValueFromMemory(x, shape);
        Assert.Equal(Direct(fixture, input, y, e.Classes).Counts.ToArray(), r.Matrix.Counts.ToArray());
        Assert.Equal(53, r.Images);
    }

    [Fact]
    public void WrongTypesAndShapesAreRefusedNamingTheInput()
    {
        var (x, _, y, sample) = Data("tiny_lstm", 4);
        using var lstm = Evaluator.Load(ModelTestUtil.Fixture("tiny_lstm.onnx"));
        Assert.Contains("is float", Assert.Throws<ArgumentException>(() => lstm.Evaluate(new long[x.Length], y, sample)).Message);
        var e = Assert.Throws<ArgumentException>(() => lstm.Evaluate(x, y, [sample[0] * sample[1]]));
        Assert.Contains("input 'x' expects [N, 5, 3]", e.Message);
        Assert.Contains("not images", Assert.Throws<ArgumentException>(() => lstm.Evaluate(x, y, 1, sample[0], sample[1])).Message);
        using var text = Evaluator.Load(ModelTestUtil.Fixture("tiny_text.onnx"));
        Assert.Contains("int64 (token ids)", Assert.Throws<ArgumentException>(() => text.Evaluate(new float[4 * 6], y, [6])).Message);
    }

    [Theory]
    [InlineData("tiny_lstm", "float samples fed as they are")]
    [InlineData("tiny_text", "token ids")]
    public void EvalCommandTakesNpySequencesAndTokenIds(string fixture, string what)
    {
        var (x, ids, y, sample) = Data(fixture);
        long[] shape = [y.Length, .. sample.Select(d => (long)d)];
        var xs = Path.Combine(_dir, "x.npy");
        if (ids.Length > 0) Acwa.Onnx.IO.NpyFile.Write<long>(xs, ids, shape);
        else Acwa.Onnx.IO.NpyFile.Write<float>(xs, x, shape);
        Acwa.Onnx.IO.NpyFile.Write<long>(Path.Combine(_dir, "y.npy"), y.Select(v => (long)v).ToArray());
        var json = Path.Combine(_dir, "r.json");
        var (code, stdout, err) = Acwa.Onnx.Tests.Cli.CliRun.Invoke("eval", "--model", ModelTestUtil.Fixture($"{fixture}.onnx"), "--dataset", $"npy:{xs},{_dir}/y.npy", "--batch", "16", "--json", json);
        Assert.True(code == 0, err + stdout);
        Assert.Contains(what, stdout);
        Assert.Contains($"53 samples [{string.Join("x", sample)}]", stdout);
        using var input = ids.Length > 0 ? OrtValue.CreateTensorValueFromMemory(ids, shape) : OrtValue.CreateTensorValueFromMemory(x, shape);
        var expected = Direct(fixture, input, y, 3);
        Assert.Equal(System.Text.Json.Nodes.JsonNode.Parse(ClassificationReport.Create(expected).ToJson())!.ToJsonString(),
            System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(json))!.ToJsonString());
    }

    [Fact]
    public void EvalCommandRefusesFloatsForATokenModelNamingTheFile()
    {
        var (x, _, y, sample) = Data("tiny_lstm", 6);
        var xs = Path.Combine(_dir, "floats.npy");
        Acwa.Onnx.IO.NpyFile.Write<float>(xs, new float[6 * 6], [6, 6]);
        Acwa.Onnx.IO.NpyFile.Write<long>(Path.Combine(_dir, "y.npy"), y.Select(v => (long)v).ToArray());
        var (code, stdout, err) = Acwa.Onnx.Tests.Cli.CliRun.Invoke("eval", "--model", ModelTestUtil.Fixture("tiny_text.onnx"), "--dataset", $"npy:{xs},{_dir}/y.npy");
        Assert.NotEqual(0, code);
        Assert.Contains("floats.npy", err + stdout);
        Assert.Contains("int64 token ids", err + stdout);
    }
}
