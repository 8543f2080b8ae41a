using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Training.Runtime;

/// <summary>StepRunner.SetState with a tensor whose data length disagrees with its shape: an error naming it, and no state changed.</summary>
public sealed class SetStateErrorTests
{
    [Theory]
    [InlineData(10)] // shorter: the CPU upload copied 10 values and kept the old 2
    [InlineData(14)] // longer: the upload failed half way with "Destination is too short"
    public void DataLengthThatDisagreesWithTheShapeIsRefusedBeforeAnyUpload(int wLength)
    {
        var dir = TestArtifacts.Create(4, 3);
        using var r = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        var before = r.GetState();
        var edited = before.Select(t => t.Name switch
        {
            "b" => t with { Data = [7f, 7f, 7f] },
            "W" => t with { Data = Enumerable.Repeat(1f, wLength).ToArray() },
            _ => t,
        }).ToList();
        var e = Assert.Throws<InvalidDataException>(() => r.SetState(edited));
        Assert.Contains("'W'", e.Message);
        Assert.Contains("[4,3]", e.Message);
        var after = r.GetState();
        for (int i = 0; i < before.Count; i++) Assert.Equal(before[i].Data, after[i].Data);
    }
}
