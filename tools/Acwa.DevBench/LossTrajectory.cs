using Acwa.Cli.Commands;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.DevBench;

/// <summary>
/// Loss trajectories of a few training steps from one artifact set, for device parity checks. A correct CUDA step differs
/// from the CPU step by rounding (other summation orders in cuBLAS/cuDNN), and training amplifies such differences step
/// by step (Adam turns noise-level gradient differences into steps of size lr). <see cref="Run"/> with
/// <c>perturbUlp</c> measures that amplification on the CPU alone: every other non-zero value of every float state
/// tensor is moved by one ulp before the first step, the smallest change fp32 can express.
/// </summary>
internal static class LossTrajectory
{
    /// <summary>Trains <paramref name="xs"/>.Length steps (float[] or token-id long[] batches) from the artifact set's initial state and returns the losses.</summary>
    public static float[] Run(string artifactDir, StepRunnerOptions options, Array[] xs, long[][] ys, int batch, bool perturbUlp,
        out List<Acwa.Onnx.HostTensor> finalState)
    {
        using var r = new StepRunner(artifactDir, options);
        if (perturbUlp)
        {
            var state = r.GetState();
            foreach (var t in state)
            {
                if (t.Data is null) continue;
                for (int i = 0; i < t.Data.Length; i += 2)
                    if (t.Data[i] != 0) t.Data[i] = MathF.BitIncrement(t.Data[i]);
            }
            r.SetState(state);
        }
        var losses = new float[xs.Length];
        for (int i = 0; i < xs.Length; i++) losses[i] = BenchModel.TrainStep(r, xs[i], ys[i], batch).Loss;
        finalState = r.GetState();
        return losses;
    }

    /// <summary>|a_i - b_i| / |a_i| per step.</summary>
    public static double[] RelativePerStep(float[] a, float[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"trajectories of {a.Length} and {b.Length} steps");
        return a.Zip(b, (u, v) => Math.Abs(u - v) / Math.Max(1e-12, Math.Abs(u))).ToArray();
    }

    /// <summary>Largest <see cref="RelativePerStep"/> value (over the first <paramref name="count"/> steps when given).</summary>
    public static double MaxRelative(float[] a, float[] b, int? count = null) =>
        RelativePerStep(a, b).Take(count ?? a.Length).DefaultIfEmpty(0).Max();
}
