using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Training.Runtime;

/// <summary>Hand-edited manifests with nulls or missing fields: an InvalidDataException naming the file and field, not a NullReferenceException.</summary>
public sealed class ManifestErrorTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("\"state\": [", "\"state\": null, \"was_state\": [", "'state'")]
    [InlineData("\"state\": [", "\"state\": [null, ", "state[0] is null")]
    [InlineData("\"controls\": [", "\"controls\": null, \"was_controls\": [", "'controls'")]
    [InlineData("\"input_shape\": [", "\"input_shape\": null, \"was_input_shape\": [", "'input_shape'")]
    [InlineData("\"hyperparameters\": {", "\"hyperparameters\": null, \"was_hyperparameters\": {", "'hyperparameters'")]
    [InlineData("\"training_model\": \"training_model.onnx\"", "\"training_model\": null", "'training_model'")]
    [InlineData("\"name\": \"fc0.weight\",", "", "'name'")]
    public void NullOrMissingFieldIsNamed(string from, string to, string expected)
    {
        var dir = _dir.File("art");
        TrainingArtifacts.Generate(Compiler.TestModels.Mlp([4, 3], 1), new ArtifactOptions(), dir);
        var path = Path.Combine(dir, "manifest.json");
        var text = File.ReadAllText(path);
        Assert.Contains(from, text);
        File.WriteAllText(path, text.Replace(from, to));
        var e = Assert.Throws<InvalidDataException>(() => new Acwa.Onnx.Training.Runtime.StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 }));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }
}
