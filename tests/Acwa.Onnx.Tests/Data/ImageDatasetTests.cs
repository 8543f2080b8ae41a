using Acwa.Onnx.Data;

namespace Acwa.Onnx.Tests.Data;

public class ImageDatasetTests
{
    [Fact]
    public void SubsetCopiesChosenImagesInOrder()
    {
        var ds = DataFiles.Synthetic([3, 2], channels: 2, h: 3, w: 2);   // labels 0,1,0,1,0; image i filled with i
        Assert.Equal(new[] { 0, 1, 0, 1, 0 }, ds.Labels.ToArray());
        Assert.Equal(12, ds.ImageSize);
        var sub = ds.Subset([4, 1, 1]);
        Assert.Equal(3, sub.Count);
        Assert.Equal(new[] { 0, 1, 1 }, sub.Labels.ToArray());
        Assert.All(sub.Image(0).ToArray(), b => Assert.Equal(4, b));
        Assert.All(sub.Image(2).ToArray(), b => Assert.Equal(1, b));
        Assert.Equal(new[] { 1, 2 }, sub.ClassCounts());
        Assert.Equal(ds.ClassNames, sub.ClassNames);
        Assert.Equal(new[] { new[] { 0, 2, 4 }, new[] { 1, 3 } }, ds.IndicesByClass());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ds.Subset([0, 5]));
        Assert.Contains("#1", e.Message);
    }

    [Fact]
    public void ConstructorRejectsInconsistentData()
    {
        var e = Assert.Throws<ArgumentException>(() => new ImageDataset(new byte[8], [0, 2], 1, 2, 2, ["a", "b"], "t"));
        Assert.Contains("label 2 of image 1", e.Message);
        e = Assert.Throws<ArgumentException>(() => new ImageDataset(new byte[7], [0, 1], 1, 2, 2, ["a", "b"], "t"));
        Assert.Contains("need 8 pixel bytes", e.Message);
        Assert.Equal(new[] { 0, 0, 0 }, new ImageDataset([], [], 3, 4, 4, ["a", "b", "c"], "empty").ClassCounts());
    }
}
