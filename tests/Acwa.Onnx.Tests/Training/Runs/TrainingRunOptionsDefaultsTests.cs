using Acwa.Onnx.Training.Runs;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Training.Runs;

/// <summary>The options' defaults that depend on the data and the device: the imbalance protocol and the run folder's name.</summary>
public sealed class TrainingRunOptionsDefaultsTests
{
    [Theory]
    [InlineData("fashion-mnist", "step")]
    [InlineData("fmnist:/data/fm", "step")]
    [InlineData("cifar10:/data/c10", "step")]
    [InlineData("CIFAR-10:/data/c10", "step")]
    [InlineData("folder:/data/photos", "none")]
    [InlineData("isic2018:/data/isic", "none")]
    [InlineData("idx:a,b", "none")]
    [InlineData("npy:x.npy,y.npy", "none")]
    public void ThePapersProtocolIsTheDefaultOnlyForThePapersDatasets(string dataset, string expected)
    {
        var o = new TrainingRunOptions { Dataset = dataset };
        Assert.Null(o.Imbalance);
        Assert.True(o.ImbalanceIsDefault);
        Assert.Equal(expected, o.ResolveImbalance());
        Assert.Equal(expected, o.ToJson()["imbalance"]!.GetValue<string>()); // config.json records the protocol applied
        Assert.Equal("lt:10", (o with { Imbalance = "lt:10" }).ResolveImbalance());
        Assert.False((o with { Imbalance = "lt:10" }).ImbalanceIsDefault);
    }

    [Fact]
    public void TheDefaultRunFolderNamesTheDeviceAndTheImbalanceApplied()
    {
        var cpu = new TrainingRunOptions();
        Assert.Equal(Path.Combine("runs", "fashion-mnist-step-mlp-ce-acwa-cpu-seed0"), cpu.DefaultOutDir());
        var cuda = cpu with { Device = Device.Parse("cuda") };
        Assert.Equal(Path.Combine("runs", "fashion-mnist-step-mlp-ce-acwa-cuda_0-seed0"), cuda.DefaultOutDir());
        Assert.Equal(Path.Combine("runs", "npy-none-mlp-ce-acwa-cpu-seed3"), new TrainingRunOptions { Dataset = "npy:x.npy,y.npy", Seed = 3 }.DefaultOutDir());
    }

    [Fact]
    public void AMalformedDatasetIsAnOptionError()
    {
        var e = Assert.Throws<InvalidOptionException>(() => new TrainingRunOptions { Dataset = "mnist-ish" }.Validate());
        Assert.Equal(nameof(TrainingRunOptions.Dataset), e.Option);
    }
}
