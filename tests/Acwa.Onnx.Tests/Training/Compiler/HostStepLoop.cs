using Acwa.Onnx.Graphs.Proto;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Tests.Training.Compiler;

/// <summary>A host-side training loop over a compiled step graph (real ORT session; state round-trips through the host).</summary>
internal sealed class HostStepLoop : IDisposable
{
    private readonly Ort _session;
    private readonly ArtifactManifest _m;
    private readonly float _beta1, _beta2;
    public Dictionary<string, HostTensor> State { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, float[]> ControlValues { get; } = new(StringComparer.Ordinal);
    public int OptimizerStep { get; private set; }
    public Dictionary<string, Array> Last { get; private set; } = [];

    public HostStepLoop(ArtifactSet set)
    {
        _session = new Ort(set.TrainingModel);
        _m = set.Manifest;
        foreach (var t in set.InitialState) State[t.Name] = t;
        _beta1 = (float)_m.Hyperparameters.GetValueOrDefault("beta1", 0.9);
        _beta2 = (float)_m.Hyperparameters.GetValueOrDefault("beta2", 0.999);
    }

    /// <summary>One run of the step graph. <paramref name="applies"/> says whether this run is an optimizer step
    /// (always true without accumulation); <paramref name="reset"/> starts an accumulation group.</summary>
    public float Step(float[] x, long[] y, bool reset = true, bool applies = true) =>
        Step(Ort.F(_m.InputName, x, [y.Length, .. _m.InputShape.Skip(1).Select(d => (int)d)]), y, reset, applies);

    /// <summary>One step of a model whose input is int64 (token ids).</summary>
    public float Step(long[] x, long[] y) => Step(Ort.L(_m.InputName, x, [y.Length, .. _m.InputShape.Skip(1).Select(d => (int)d)]), y, true, true);

    private float Step(NamedOnnxValue input, long[] y, bool reset, bool applies)
    {
        int n = y.Length;
        int t = OptimizerStep + 1;
        var feeds = new List<NamedOnnxValue> { input, Ort.L(_m.LabelName, y, n) };
        foreach (var s in _m.State) feeds.Add(Ort.F(s.Input, State[s.Name].Data!, s.Shape.Select(d => (int)d).ToArray()));
        foreach (var c in _m.Controls)
        {
            float[] v = ControlValues.TryGetValue(c.Role, out var given) ? given : c.Role switch
            {
                ControlRoles.AdamBias1 => [1f - MathF.Pow(_beta1, t)],
                ControlRoles.AdamBias2 => [1f - MathF.Pow(_beta2, t)],
                ControlRoles.FirstStep => [t == 1 ? 1f : 0f],
                ControlRoles.AccumulateReset => [reset ? 1f : 0f],
                ControlRoles.AccumulateApply => [applies ? 1f : 0f],
                _ => c.Default,
            };
            feeds.Add(Ort.F(c.Name, v, c.Shape.Select(d => (int)d).ToArray()));
        }
        Last = _session.Run(feeds);
        foreach (var s in _m.State) State[s.Name] = State[s.Name] with { Data = (float[])Last[s.Output] };
        if (applies) OptimizerStep++;
        return ((float[])Last[_m.LossOutput])[0];
    }

    public void Dispose() => _session.Dispose();

    /// <summary>Every element of <paramref name="actual"/> within <paramref name="tolerance"/> times the largest magnitude of <paramref name="expected"/>.</summary>
    public static void AssertCloseToScale(float[] expected, float[] actual, float tolerance, string name)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = Math.Max(expected.Max(MathF.Abs), 1e-6f);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= tolerance * scale, $"{name}[{i}]: {expected[i]} vs {actual[i]}");
    }

    /// <summary>
    /// The step graph's gradient of each parameter in <paramref name="names"/> (exposed, learning rate 0) against central
    /// differences (step <paramref name="h"/>) of the same graph's loss, on the elements <paramref name="picks"/> chooses
    /// (all by default), within <paramref name="tolerance"/> of the largest difference quotient.
    /// </summary>
    public static void AssertGradientsMatchFiniteDifferences(ArtifactSet set, float[] x, long[] y, IEnumerable<string> names, float tolerance,
        float h = 5e-3f, Func<int, IEnumerable<int>>? picks = null)
    {
        float Loss(string name, int i, float delta)
        {
            using var r = new HostStepLoop(set);
            var d = (float[])r.State[name].Data!.Clone();
            d[i] += delta;
            r.State[name] = r.State[name] with { Data = d };
            return r.Step(x, y);
        }
        using var runner = new HostStepLoop(set);
        runner.Step(x, y);
        foreach (var name in names)
        {
            var grad = (float[])runner.Last["grad." + name];
            var at = (picks?.Invoke(grad.Length) ?? Enumerable.Range(0, grad.Length)).ToArray();
            var fd = at.Select(i => (Loss(name, i, h) - Loss(name, i, -h)) / (2 * h)).ToArray();
            AssertCloseToScale(fd, at.Select(i => grad[i]).ToArray(), tolerance, "grad." + name);
        }
    }
}
