using System.Text.Json.Nodes;
using Acwa.Onnx.Weighting;

namespace Acwa.Onnx.Tests.Weighting;

public class PolicyStateTests
{
    private static readonly long[] Counts = [4000, 1200, 300, 35];
    private const int Total = 12;

    public static TheoryData<string, int> Cases() => new()
    {
        { "uniform", 5 },
        { "inv", 5 },
        { "cb:beta=0.999", 5 },
        { "acwa", 5 },
        { "acwa:alpha=0.1,beta=0,clip=off", 5 },
        { "acwa-centered", 5 },
        { "acwa-mult", 5 },
        { "acwa-prior", 5 },
        { "acwa-prior:prior=inv,ema=0.5,k=3", 0 },   // saved before any update
        { "drw:epoch=3,then=[acwa-mult:eta=3]", 2 },  // saved before the switch
        { "drw:epoch=3,then=[acwa-prior]", 6 },       // saved after it
        { "drw:at=0.5,then=[drw:epoch=7,then=acwa-centered]", 8 },
        { "acwa-wilson", 5 },
        { "acwa-wilson:metric=recall,z=1,ema=0.5", 0 },
        { "cdb", 5 },
        { "cdb:ema=0.7,tau=2", 5 },
        { "drw:epoch=3,then=[acwa-wilson]", 6 },
        { "la-recall", 5 },
        { "la-recall:eta=3,ema=0,bound=0.5", 0 },
    };

    private static List<EpochFeedback> Sequence(int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, Total).Select(e => new EpochFeedback(e, Total,
            Enumerable.Range(0, 4).Select(_ => rng.NextDouble()).ToArray(),
            Enumerable.Range(0, 4).Select(_ => rng.NextDouble()).ToArray(),
            Enumerable.Range(0, 4).Select(_ => rng.NextDouble()).ToArray(),
            [400, 120, 30, 3], Counts)).ToList();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SaveAfterKEpochsLoadIntoAFreshPolicyAndContinueBitForBit(string spec, int k)
    {
        var feedback = Sequence(spec.Length);
        var original = PolicyFactory.Create(spec, Counts, Total);
        for (int e = 0; e < k; e++)
            original.Update(feedback[e]);

        // Through text, as a checkpoint would store it.
        string json = original.SaveState().ToJsonString();
        var restored = PolicyFactory.Create(spec, Counts, Total);
        restored.LoadState((JsonObject)JsonNode.Parse(json)!);
        Assert.Equal(original.LastEpoch, restored.LastEpoch);
        Feedback.AssertBitEqual(original.Current, restored.Current);

        // And in memory, without text.
        var inMemory = PolicyFactory.Create(spec, Counts, Total);
        inMemory.LoadState(original.SaveState());

        for (int e = k; e < Total; e++)
        {
            var a = original.Update(feedback[e]);
            Feedback.AssertBitEqual(a, restored.Update(feedback[e]));
            Feedback.AssertBitEqual(a, inMemory.Update(feedback[e]));
        }
        Assert.Equal(original.SaveState().ToJsonString(), restored.SaveState().ToJsonString());
    }

    [Fact]
    public void StateHoldsAwkwardDoublesExactly()
    {
        // Values that need all 17 significant digits survive the JSON text.
        var p = new AcwaPolicy(3, alpha: 0.1 / 3, beta: 1.0 / 7, clip: false, initial: Math.PI / 3);
        Feedback.Run(p, [[1.0 / 3, 2.0 / 3, 0.1], [0.7, 1e-17, 0.123456789012345678]]);
        var copy = new AcwaPolicy(3, alpha: 0.1 / 3, beta: 1.0 / 7, clip: false, initial: Math.PI / 3);
        copy.LoadState((JsonObject)JsonNode.Parse(p.SaveState().ToJsonString())!);
        Feedback.AssertBitEqual(p.Current, copy.Current);
        // And the spec recreates the same configuration.
        Assert.Equal(p.Spec, PolicyFactory.Create(p.Spec, [1, 1, 1], 10).Spec);
    }

    [Fact]
    public void StateLayout()
    {
        var p = PolicyFactory.Create("acwa-prior", Counts, Total);
        p.Update(Sequence(1)[0]);
        var s = p.SaveState();
        Assert.Equal("acwa-policy/1", (string?)s["format"]);
        Assert.Equal(p.Spec, (string?)s["spec"]);
        Assert.Equal(4, (int?)s["num_classes"]);
        Assert.Equal(0, (int?)s["last_epoch"]);
        Assert.Equal(4, s["weights"]!.AsArray().Count);
        Assert.Equal(4, s["smoothed_f1"]!.AsArray().Count);
        Assert.Equal(4, s["log_adjust"]!.AsArray().Count);
        Assert.Equal(300, (long?)s["train_counts"]![2]);
    }

    [Fact]
    public void LoadRejectsMismatchesAndLeavesThePolicyUnchanged()
    {
        var source = PolicyFactory.Create("acwa-prior", Counts, Total);
        source.Update(Sequence(2)[0]);
        var good = source.SaveState();

        var target = PolicyFactory.Create("acwa-prior", Counts, Total);
        var before = target.SaveState().ToJsonString();

        void Rejects(JsonObject state, string expected)
        {
            var e = Assert.Throws<ArgumentException>(() => target.LoadState(state));
            Assert.Contains(expected, e.Message);
            Assert.Equal(before, target.SaveState().ToJsonString());
        }
        JsonObject Edit(Action<JsonObject> edit)
        {
            var copy = (JsonObject)good.DeepClone();
            edit(copy);
            return copy;
        }

        Rejects(PolicyFactory.Create("acwa-prior:k=5", Counts, Total).SaveState(), "'spec'");
        Rejects(PolicyFactory.Create("acwa", Counts, Total).SaveState(), "'spec'");
        Rejects(PolicyFactory.Create("acwa-prior", [4000, 1200, 300, 36], Total).SaveState(), "'train_counts'[3]");
        Rejects(Edit(s => s["format"] = "acwa-policy/0"), "'format'");
        Rejects(Edit(s => s["num_classes"] = 5), "'num_classes'");
        Rejects(Edit(s => s.Remove("weights")), "'weights'");
        Rejects(Edit(s => s["weights"] = new JsonArray(1.0, 2.0)), "'weights' has 2 entries");
        Rejects(Edit(s => s["weights"]![1] = "x"), "weights[1]");
        Rejects(Edit(s => s["log_adjust"]![3] = null), "log_adjust[3]");
        Rejects(Edit(s => s["last_epoch"] = -2), "'last_epoch'");
        Rejects(Edit(s => s.Remove("smoothed_f1")), "'smoothed_f1'");

        var fewer = PolicyFactory.Create("acwa-prior", [1, 2, 3], Total);
        Assert.Contains("'num_classes'", Assert.Throws<ArgumentException>(() => fewer.LoadState(good)).Message);
    }

    [Fact]
    public void DrwStateCarriesItsFollowUp()
    {
        var p = PolicyFactory.Create("drw:epoch=1,then=[acwa-mult]", Counts, Total);
        var seq = Sequence(3);
        p.Update(seq[0]);
        p.Update(seq[1]);
        var state = p.SaveState();
        Assert.Equal(1, (int?)state["then"]!["last_epoch"]);
        var broken = (JsonObject)state.DeepClone();
        broken["then"]!["spec"] = "acwa-mult:eta=1,min=0.2,max=5,clip=on";
        var target = PolicyFactory.Create("drw:epoch=1,then=[acwa-mult]", Counts, Total);
        Assert.Throws<ArgumentException>(() => target.LoadState(broken));
        Assert.Equal(-1, target.LastEpoch);
    }
}
