using System.Text.Json;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Tests.Models;

internal static class ModelTestUtil
{
    /// <summary>tests/Acwa.Onnx.Tests/Fixtures/torch as copied to the test output folder.</summary>
    public static string TorchFixtures => Path.Combine(AppContext.BaseDirectory, "Fixtures", "torch");

    public static string Fixture(string relative) => Path.Combine(TorchFixtures, relative);

    public static JsonElement Index(string relative) => JsonDocument.Parse(File.ReadAllText(Fixture(relative))).RootElement;

    /// <summary>The repository root (the folder holding Acwa.Onnx.sln), found upwards from the test binaries.</summary>
    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Acwa.Onnx.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no Acwa.Onnx.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Runs a single-input model on CPU and returns its first output and that output's shape.</summary>
    public static (float[] Values, int[] Shape) Run(ModelProto model, float[] x, int[] shape, string input = "x")
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC };
        using var session = new InferenceSession(OnnxModel.ToBytes(model), options);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(input, new DenseTensor<float>(x, shape))]);
        var t = results.First().AsTensor<float>();
        return (t.ToArray(), t.Dimensions.ToArray());
    }

    /// <summary>Largest |a - b| / max(1, |b|).</summary>
    public static double MaxScaledError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
            worst = Math.Max(worst, Math.Abs((double)actual[i] - expected[i]) / Math.Max(1.0, Math.Abs(expected[i])));
        return worst;
    }
}
