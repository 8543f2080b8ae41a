using System.Globalization;
using System.Reflection;
using Acwa.Onnx.Data;
using Acwa.Onnx.Distributed;
using Acwa.Onnx.IO;
using Acwa.Onnx.Tests.Cli;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runs;
using Xunit.Abstractions;

namespace Acwa.Onnx.Tests.Distributed;

/// <summary>
/// Batch norm in a data-parallel run (docs/distributed.md): each rank normalises its slice with its slice's own statistics
/// (DDP's default, not the global batch's), the gradients are summed, and rank 0's running statistics are broadcast after
/// every step. The reference is computed here, in one process, from that definition with the split step: per step, each
/// slice's gradient from the same parameters and buffers, summed, one update with 1 / (Z_0 + Z_1), then slice 0's buffers.
/// </summary>
[Trait("Category", TestCategories.Slow)]
public class BatchNormDistributedTests(ITestOutputHelper log)
{
    [Fact]
    public void Two_ranks_use_per_rank_batch_statistics_and_rank_0s_running_statistics()
    {
        using var dir = new TempDir();
        var data = LearnableIdxDataset.Write(dir, 30, 5);
        string[] args = ["train", "--dataset", data, "--model", "resnet20", "--imbalance", "step", "--policy", "cb", "--optimizer", "sgd", "--lr", "0.01",
            "--epochs", "1", "--batch", "16", "--threads", "1", "--seed", "5", "--quiet", "--out", dir.File("mpi"), "--distributed"];
        var mpi = MpiRun.Run(2, "acwa.dll", args);
        Assert.True(mpi.Code == 0, $"exit {mpi.Code}\n{mpi.Out}\n{mpi.Err}");

        // The reference: the same run prepared in this process (split artifacts, same data, initial state and weights).
        var o = new TrainingRunOptions
        {
            Dataset = data, Model = "resnet20", Imbalance = "step", Policy = "cb", Optimizer = OptimizerKind.Sgd, LearningRate = 0.01, Epochs = 1, Batch = 16,
            Threads = 1, Seed = 5, OutDir = dir.File("reference"), Communicator = SingleProcessCommunicator.Instance,
        };
        using var run = TrainingRun.Prepare(o);
        var runner = run.Trainer.Runner;
        Assert.True(runner.BufferNames.Count > 0, "resnet20 has batch-norm buffers");
        var loader = (BatchLoader)typeof(Trainer).GetField("_trainLoader", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(run.Trainer)!;
        runner.SetLearningRate(0.01f);
        var w = run.Policy.Current; var w32 = new float[w.Length]; for (int i = 0; i < w32.Length; i++) w32[i] = (float)w[i];
        runner.SetClassWeights(w32);
        int size = (int)runner.SampleSize, steps = 0;
        var sum = new float[runner.GradientLength];
        foreach (var batch in loader.Epoch(0))
        {
            using (batch)
            {
                int n = batch.Count, n0 = (n + 1) / 2; // rank 0 takes the first ceil(n/2) rows, rank 1 the rest
                var buffers = runner.GetBuffers();
                double z = 0;
                List<HostTensor>? rank0Buffers = null;
                Array.Clear(sum);
                foreach (var (lo, hi) in new[] { (0, n0), (n0, n) })
                {
                    if (hi == lo) continue; // an empty slice (a last batch of one row) adds nothing
                    runner.SetBuffers(buffers);
                    runner.ComputeGradients(batch.Images.AsSpan(lo * size, (hi - lo) * size), batch.Labels.AsSpan(lo, hi - lo), hi - lo);
                    var g = runner.Gradients;
                    for (int i = 0; i < sum.Length; i++) sum[i] += g[i];
                    z += runner.LossNormalizer;
                    rank0Buffers ??= runner.GetBuffers();
                }
                sum.CopyTo(runner.Gradients);
                runner.ApplyGradients((float)(1.0 / z));
                runner.SetBuffers(rank0Buffers!);
                steps++;
            }
        }
        var expected = runner.GetState().ToDictionary(t => t.Name);
        var (actual, _) = TensorFile.Load(dir.File("mpi/checkpoint.acwa"));
        double worst = 0; string where = "";
        int buffersCompared = 0;
        foreach (var t in actual)
        {
            if (t.Name.StartsWith("control/", StringComparison.Ordinal) || t.Data is null) continue;
            var e = expected[t.Name].Data!;
            double norm = 0, d2 = 0;
            for (int i = 0; i < e.Length; i++) { norm += (double)e[i] * e[i]; double d = (double)e[i] - t.Data[i]; d2 += d * d; }
            double rel = norm > 0 ? Math.Sqrt(d2 / norm) : Math.Sqrt(d2);
            if (rel > worst) { worst = rel; where = t.Name; }
            if (runner.BufferNames.Contains(t.Name)) buffersCompared++;
        }
        // Not a vacuous match: training moved the state away from the initial one, buffers included.
        using var initial = new Acwa.Onnx.Training.Runtime.StepRunner(dir.File("mpi/artifacts"));
        double moved = 0;
        foreach (var t in initial.GetState())
        {
            if (t.Data is null || !runner.BufferNames.Contains(t.Name)) continue;
            var e = expected[t.Name].Data!;
            for (int i = 0; i < e.Length; i++) moved = Math.Max(moved, Math.Abs(e[i] - t.Data[i]));
        }
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"resnet20, 2 ranks, {steps} steps: largest ||a-b||/||a|| against the per-rank-statistics reference {worst:E2} ({where}); {buffersCompared} buffers compared; buffers moved by up to {moved:E2} from their initial values"));
        Assert.True(moved > 1e-3, $"the buffers barely moved ({moved:E2})");
        Assert.True(steps >= 10);
        Assert.Equal(runner.BufferNames.Count, buffersCompared);
        Assert.True(worst <= 1e-5, $"{worst:E3} in {where}");
    }
}
