using Acwa.DevBench;
using Acwa.Onnx.Tests.Models;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.DevBench;

public class LossTrajectoryTests
{
    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void CpuTrajectoryIsDeterministicAndAOneUlpPerturbationMovesItByANoiseLevelAmount()
    {
        var dir = Path.Combine(ModelTestUtil.RepoRoot(), "models", "artifacts", "cnn");
        const int batch = 32, steps = 4;
        var rng = new Random(3);
        var xs = Enumerable.Range(0, steps).Select(_ => Enumerable.Range(0, batch * 784).Select(_ => (float)rng.NextDouble()).ToArray()).ToArray();
        var ys = Enumerable.Range(0, steps).Select(_ => Enumerable.Range(0, batch).Select(_ => (long)rng.Next(10)).ToArray()).ToArray();
        var options = new StepRunnerOptions { IntraOpThreads = 1 };

        var a = LossTrajectory.Run(dir, options, xs, ys, batch, perturbUlp: false, out var stateA);
        var b = LossTrajectory.Run(dir, options, xs, ys, batch, perturbUlp: false, out var stateB);
        Assert.Equal(a, b);
        Assert.Equal(0, LossTrajectory.MaxRelative(a, b));
        Assert.Equal(stateA.Select(t => t.Data), stateB.Select(t => t.Data));

        var p = LossTrajectory.Run(dir, options, xs, ys, batch, perturbUlp: true, out var stateP);
        double first = LossTrajectory.MaxRelative(a, p, 1), all = LossTrajectory.MaxRelative(a, p);
        Assert.True(first < 1e-5, $"first-step difference {first}");
        Assert.True(all > 0 && all < 1e-2, $"trajectory difference {all}");
        Assert.NotEqual(stateA.First(t => t.Data is not null).Data, stateP.First(t => t.Data is not null).Data);
        Assert.Throws<ArgumentException>(() => LossTrajectory.MaxRelative(a, new float[steps + 1]));
    }
}
