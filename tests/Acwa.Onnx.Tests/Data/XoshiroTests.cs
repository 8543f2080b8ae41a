using Acwa.Onnx.Data;

namespace Acwa.Onnx.Tests.Data;

public class XoshiroTests
{
    [Fact]
    public void MatchesTheReferenceGenerator()
    {
        // Reference xoshiro256** from state {1, 2, 3, 4}: first outputs as printed by the authors' C code.
        var r = new Xoshiro256StarStar(0) { State = [1, 2, 3, 4] };
        Assert.Equal(11520UL, r.NextUInt64());
        Assert.Equal(0UL, r.NextUInt64());
        Assert.Equal(1509978240UL, r.NextUInt64());
        Assert.Equal(1215971899390074240UL, r.NextUInt64());
    }

    [Fact]
    public void StateRestoreContinuesIdentically()
    {
        var r = new Xoshiro256StarStar(42);
        for (int i = 0; i < 17; i++) r.NextUInt64();
        var saved = r.State;
        var a = Enumerable.Range(0, 50).Select(_ => r.NextInt(1000)).ToArray();
        var s = new Xoshiro256StarStar(1) { State = saved };
        Assert.Equal(a, Enumerable.Range(0, 50).Select(_ => s.NextInt(1000)).ToArray());
        Assert.Throws<ArgumentException>(() => s.State = new ulong[4]);
        Assert.Throws<ArgumentException>(() => s.State = new ulong[3]);
    }

    [Fact]
    public void BoundedIntsAreInRangeAndRoughlyUniform()
    {
        var r = new Xoshiro256StarStar(5);
        var hist = new int[7];
        for (int i = 0; i < 70000; i++) hist[r.NextInt(7)]++;
        Assert.All(hist, h => Assert.InRange(h, 9500, 10500));
        Assert.All(Enumerable.Range(0, 1000).Select(_ => r.NextDouble()), d => Assert.InRange(d, 0.0, 0.9999999999));
    }

    [Fact]
    public void DerivedStreamsDifferByKey()
    {
        var a = Xoshiro256StarStar.Derive(1, 2, 3).NextUInt64();
        Assert.Equal(a, Xoshiro256StarStar.Derive(1, 2, 3).NextUInt64());
        Assert.NotEqual(a, Xoshiro256StarStar.Derive(1, 3, 2).NextUInt64());
        Assert.NotEqual(a, Xoshiro256StarStar.Derive(2, 2, 3).NextUInt64());
        Assert.NotEqual(a, Xoshiro256StarStar.Derive(1, 2).NextUInt64());
    }
}
