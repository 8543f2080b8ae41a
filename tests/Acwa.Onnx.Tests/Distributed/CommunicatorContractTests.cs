using Acwa.Onnx.Distributed;
using Acwa.Onnx.Tests.Cli;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Training.Runs;

namespace Acwa.Onnx.Tests.Distributed;

/// <summary>
/// The trainer's cross-rank checks, in one process with a communicator that plays rank 0 of 2 next to an identical twin
/// (every sum doubles): the class weights after the policy's update must equal rank 0's broadcast ones, bit for bit.
/// </summary>
[Trait("Category", TestCategories.Slow)]
public class CommunicatorContractTests
{
    /// <summary>Rank 0 of 2 whose twin holds the same values; <see cref="PerturbWeights"/> makes the broadcast of doubles disagree.</summary>
    private sealed class TwinCommunicator : ICommunicator
    {
        public bool PerturbWeights { get; init; }
        public int Rank => 0;
        public int Size => 2;
        public void AllReduceSum(Span<float> values) { foreach (ref var v in values) v *= 2; }
        public void AllReduceSum(Span<double> values) { foreach (ref var v in values) v *= 2; }
        public void AllReduceSum(Span<long> values) { foreach (ref var v in values) v *= 2; }
        public void Broadcast(Span<float> values, int root = 0) { }
        public void Broadcast(Span<double> values, int root = 0) { if (PerturbWeights && values.Length > 0) values[0] = Math.BitIncrement(values[0]); }
        public void Broadcast(Span<long> values, int root = 0) { }
        public void Broadcast(Span<byte> values, int root = 0) { }
        public void Abort(int exitCode, string message) => throw new InvalidOperationException(message);
        public void Dispose() { }
    }

    private static TrainingRunOptions Options(string data, string outDir, ICommunicator comm) => new()
    {
        Dataset = data, Model = "mlp", Imbalance = "step", Policy = "acwa-prior", Epochs = 1, Batch = 32, Threads = 1, Seed = 2, OutDir = outDir, Communicator = comm,
    };

    [Fact]
    public void Class_weights_that_differ_from_rank_0s_fail_the_run()
    {
        using var dir = new TempDir();
        var data = LearnableIdxDataset.Write(dir, 20, 5);
        using (var ok = TrainingRun.Prepare(Options(data, dir.File("ok"), new TwinCommunicator())))
        {
            Assert.Equal(2, ok.Trainer.Ranks);
            ok.Execute(); // a twin that agrees: the run finishes
        }
        using var bad = TrainingRun.Prepare(Options(data, dir.File("bad"), new TwinCommunicator { PerturbWeights = true }));
        var e = Assert.Throws<InvalidOperationException>(() => bad.Execute());
        Assert.Contains("the class weights differ between ranks", e.Message);
    }
}
