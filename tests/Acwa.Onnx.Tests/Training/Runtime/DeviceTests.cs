using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Training.Runtime;

public class DeviceTests
{
    [Theory]
    [InlineData("cpu", DeviceKind.Cpu, 0, "cpu")]
    [InlineData(" CPU ", DeviceKind.Cpu, 0, "cpu")]
    [InlineData("cuda", DeviceKind.Cuda, 0, "cuda:0")]
    [InlineData("cuda:0", DeviceKind.Cuda, 0, "cuda:0")]
    [InlineData("CUDA:3", DeviceKind.Cuda, 3, "cuda:3")]
    [InlineData("cuda:12", DeviceKind.Cuda, 12, "cuda:12")]
    public void ParsesValidNames(string text, DeviceKind kind, int index, string canonical)
    {
        var d = Device.Parse(text);
        Assert.Equal(kind, d.Kind);
        Assert.Equal(index, d.Index);
        Assert.Equal(canonical, d.ToString());
        Assert.Equal(d, Device.Parse(d.ToString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:x")]
    [InlineData("cuda:1:2")]
    [InlineData("cpu:0")]
    [InlineData("cuda: 1")]
    public void RejectsBadNamesNamingTheString(string text)
    {
        var e = Assert.Throws<FormatException>(() => Device.Parse(text));
        Assert.Contains($"'{text}'", e.Message);
        Assert.False(Device.TryParse(text, out _));
    }

    [Fact]
    public void CpuOptionsUseRequestedThreadsAndRejectZero()
    {
        using var o = SessionOptionsFactory.Create(Device.Cpu, 3);
        Assert.Equal(3, o.IntraOpNumThreads);
        using var d = SessionOptionsFactory.Create(Device.Cpu);
        Assert.Equal(Environment.ProcessorCount, d.IntraOpNumThreads);
        Assert.Throws<ArgumentOutOfRangeException>(() => SessionOptionsFactory.Create(Device.Cpu, 0));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("  ", null)]
    [InlineData("verbose", Microsoft.ML.OnnxRuntime.OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE)]
    [InlineData(" Info ", Microsoft.ML.OnnxRuntime.OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO)]
    [InlineData("ERROR", Microsoft.ML.OnnxRuntime.OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR)]
    public void OrtLogLevelVariableNamesALevel(string? value, Microsoft.ML.OnnxRuntime.OrtLoggingLevel? level)
    {
        Assert.Equal(level, SessionOptionsFactory.ParseLogLevel(value));
    }

    [Fact]
    public void AnUnknownOrtLogLevelIsRefusedNamingTheVariableAndTheLevels()
    {
        var e = Assert.Throws<ArgumentException>(() => SessionOptionsFactory.ParseLogLevel("loud"));
        Assert.Contains("ACWA_ORT_LOG_LEVEL='loud'", e.Message);
        Assert.Contains("verbose, info, warning, error, fatal", e.Message);
    }
}
