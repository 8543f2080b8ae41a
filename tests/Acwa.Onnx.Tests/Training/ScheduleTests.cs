using Acwa.Onnx.Training;

namespace Acwa.Onnx.Tests.Training;

public class ScheduleTests
{
    [Fact]
    public void SchedulesFollowTheirFormulas()
    {
        Assert.Equal(0.1, new ConstantSchedule(0.1).LearningRate(123, 10, 1000));
        var step = new StepDecaySchedule(1.0, 2, 0.5);
        Assert.Equal(1.0, step.LearningRate(19, 10, 100));   // epoch 1
        Assert.Equal(0.5, step.LearningRate(20, 10, 100));   // epoch 2
        Assert.Equal(0.25, step.LearningRate(45, 10, 100));  // epoch 4
        var cos = new CosineSchedule(1.0, 0.1);
        Assert.Equal(1.0, cos.LearningRate(0, 10, 100), 12);
        Assert.Equal(0.55, cos.LearningRate(50, 10, 100), 12);
        Assert.Equal(0.1, cos.LearningRate(100, 10, 100), 12);
        var warm = new WarmupSchedule(new ConstantSchedule(1.0), 0.5); // 5 steps of 10 per epoch
        Assert.Equal(0.2, warm.LearningRate(0, 10, 100), 12);
        Assert.Equal(1.0, warm.LearningRate(4, 10, 100), 12);
        Assert.Equal(1.0, warm.LearningRate(5, 10, 100), 12);
    }

    [Theory]
    [InlineData("constant", "constant:lr=0.01")]
    [InlineData("step:every=3,gamma=0.5", "step:lr=0.01,every=3,gamma=0.5")]
    [InlineData("Cosine:min=0.001,warmup=2", "cosine:lr=0.01,min=0.001,warmup=2")]
    [InlineData("cosine:lr=0.1", "cosine:lr=0.1,min=0")]
    public void ParsesSpecsToCanonicalForm(string spec, string canonical)
    {
        var s = LearningRateSchedules.Parse(spec, 0.01);
        Assert.Equal(canonical, s.Spec);
        Assert.Equal(canonical, LearningRateSchedules.Parse(s.Spec, 0.5).Spec);
    }

    [Theory]
    [InlineData("linear", "unknown learning-rate schedule 'linear'")]
    [InlineData("step:gamma=2", "gamma must be in (0, 1]")]
    [InlineData("cosine:every=3", "unknown option 'every'")]
    [InlineData("constant:lr=abc", "'lr=abc' is not key=number")]
    [InlineData("constant:lr=-1", "finite and > 0")]
    public void RejectsBadSpecsNamingTheProblem(string spec, string message)
    {
        var e = Assert.Throws<FormatException>(() => LearningRateSchedules.Parse(spec, 0.01));
        Assert.Contains(message, e.Message);
    }
}
