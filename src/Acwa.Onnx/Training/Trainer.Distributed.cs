using System.Text.Json.Nodes;
using Acwa.Onnx.Data;
using Acwa.Onnx.Distributed;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Training;

/// <summary>
/// Data parallelism over <see cref="TrainerOptions.Communicator"/> (docs/distributed.md): each rank computes the gradient of
/// the weighted loss sum of its slice of every global batch, the gradients and the sums (loss S, weights Z) are all-reduced,
/// and every rank applies the same update scaled by 1 / Z_global: the step one process takes on the whole global batch.
/// </summary>
public sealed partial class Trainer
{
    private readonly ICommunicator? _comm;

    /// <summary>Whether this trainer is one rank of a data-parallel run (<see cref="TrainerOptions.Communicator"/> set).</summary>
    public bool IsDistributed => _comm is not null;

    /// <summary>This process's rank (0 without a communicator).</summary>
    public int Rank => _comm?.Rank ?? 0;

    /// <summary>The number of ranks (1 without a communicator).</summary>
    public int Ranks => _comm?.Size ?? 1;

    /// <summary>Rank 0 writes checkpoints (and, in a <c>TrainingRun</c>, every file); the others write nothing.</summary>
    private bool Writes => Rank == 0;

    /// <summary>Checks the runner can take split steps and gives each loader this rank's part.</summary>
    private ICommunicator? SetUpDistributed(ICommunicator? comm)
    {
        if (comm is null) return null;
        if (!_runner.HasSplitStep)
            throw new ArgumentException($"a distributed run needs artifacts with a split step (ArtifactOptions.SplitStep = true); '{_runner.ArtifactDir}' has none", nameof(_runner));
        if (_runner.AccumulationSteps > 1)
            throw new ArgumentException($"a distributed run does not combine with gradient accumulation ({_runner.AccumulationSteps} steps in '{_runner.ArtifactDir}')");
        _trainLoader.Sliced(comm.Rank, comm.Size);
        _validationLoader.Sliced(comm.Rank, comm.Size);
        _testLoader?.Sliced(comm.Rank, comm.Size);
        return comm;
    }

    /// <summary>
    /// Makes every rank start from rank 0's state (parameters, optimizer state, buffers), step counters and position:
    /// DDP's initial broadcast. Counters that differ (a rank resumed from another checkpoint) fail on every rank.
    /// </summary>
    private void BroadcastInitialState()
    {
        if (_comm is not { } c) return;
        var state = _runner.GetState();
        foreach (var t in state)
        {
            if (t.Data is not null) c.Broadcast(t.Data);
            else c.Broadcast(t.Int64Data!);
        }
        _runner.SetState(state);
        long[] mine = [_runner.Step, _runner.MicroStep, GlobalStep, CompletedEpochs, _resumePosition?.NextBatch ?? -1];
        var root = (long[])mine.Clone();
        c.Broadcast(root);
        long[] differs = [mine.AsSpan().SequenceEqual(root) ? 0 : 1];
        c.AllReduceSum(differs);
        if (differs[0] != 0)
            throw new InvalidOperationException($"rank {c.Rank} of {c.Size}: {differs[0]} rank(s) start at another position than rank 0 " +
                $"(step, micro step, global step, completed epochs, next batch: [{string.Join(", ", mine)}] here, [{string.Join(", ", root)}] on rank 0); every rank must resume from the same checkpoint");
    }

    /// <summary>The result of one data-parallel step, the same on every rank.</summary>
    private readonly record struct StepTotals(float Loss, long Count, long Correct, bool Stop);

    private readonly double[] _sums = new double[5];

    /// <summary>
    /// One data-parallel step on this rank's slice of <paramref name="batch"/>: gradients of the slice's weighted loss sum,
    /// all-reduced with [S, Z, correct, rows, stop]; the update scaled by 1 / Z_global; rank 0's buffers (batch-norm running
    /// statistics) broadcast. <paramref name="stop"/> is this rank's cancellation request: any rank's request stops all.
    /// </summary>
    private StepTotals DistributedStep(Batch batch, bool stop)
    {
        var c = _comm!;
        double s = 0, z = 0;
        long correct = 0;
        if (batch.Count > 0)
        {
            var res = batch.Ids.Length > 0 ? _runner.ComputeGradients(batch.Ids, batch.Labels, batch.Count) : _runner.ComputeGradients(batch.Images, batch.Labels, batch.Count);
            s = _runner.LossSum; z = _runner.LossNormalizer;
            var preds = res.Predictions;
            for (int i = 0; i < preds.Length; i++) if (preds[i] == batch.Labels[i]) correct++;
            _trainConfusion?.Accumulate(batch.Labels.AsSpan(0, preds.Length), preds); // this rank's; all-reduced at the epoch's end
        }
        else _runner.Gradients.Clear(); // an empty slice (a last batch smaller than the world) adds nothing
        c.AllReduceSum(_runner.Gradients);
        _sums[0] = s; _sums[1] = z; _sums[2] = correct; _sums[3] = batch.Count; _sums[4] = stop ? 1 : 0;
        c.AllReduceSum(_sums);
        double zg = _sums[1];
        _runner.ApplyGradients(zg > 0 ? (float)(1.0 / zg) : 0f);
        BroadcastBuffers();
        float loss = zg > 0 ? (float)(_sums[0] / zg) : 0f;
        return new StepTotals(loss, (long)_sums[3], (long)_sums[2], _sums[4] > 0);
    }

    /// <summary>DDP's <c>broadcast_buffers</c>: every rank continues with rank 0's batch-norm running statistics.</summary>
    private void BroadcastBuffers()
    {
        if (_runner.BufferNames.Count == 0) return;
        var buffers = _runner.GetBuffers();
        foreach (var t in buffers)
        {
            if (t.Data is not null) _comm!.Broadcast(t.Data);
            else _comm!.Broadcast(t.Int64Data!);
        }
        if (Rank != 0) _runner.SetBuffers(buffers);
    }

    /// <summary>
    /// Checks that every rank holds the same class weights, and logit offsets for an <see cref="Weighting.ILogitOffsetPolicy"/>,
    /// bit for bit after the policy's update: they are computed on every rank from the same all-reduced report, so a
    /// difference is a bug, and it fails every rank.
    /// </summary>
    private void CheckSameWeights(double[] weights)
    {
        if (_comm is not { } c) return;
        bool offsets = _policy is Weighting.ILogitOffsetPolicy;
        if (_policy is Weighting.ILogitOffsetPolicy p) weights = [.. weights, .. p.LogitOffsets];
        var root = (double[])weights.Clone();
        c.Broadcast(root);
        long[] differs = [weights.AsSpan().SequenceEqual(root) ? 0 : 1];
        c.AllReduceSum(differs);
        if (differs[0] != 0)
            throw new InvalidOperationException($"the class weights{(offsets ? " or logit offsets" : "")} differ between ranks after the policy's update ({differs[0]} rank(s) differ from rank 0; " +
                $"rank {c.Rank}: [{string.Join(", ", weights)}], rank 0: [{string.Join(", ", root)}])");
    }

    /// <summary>The checkpoint's record of the world that wrote it.</summary>
    private JsonObject DistributedMeta() => new() { ["ranks"] = Ranks };

    /// <summary>A checkpoint continues only with the number of ranks that wrote it (the slices, and so the arithmetic, depend on it).</summary>
    private void CheckSameRanks(string checkpointPath, JsonObject trainer)
    {
        int saved = 1;
        if (trainer["distributed"] is JsonObject d && d["ranks"] is JsonValue v && v.TryGetValue<int>(out var r)) saved = r;
        if (saved != Ranks)
            throw new InvalidDataException($"'{checkpointPath}' was written by a run on {saved} rank(s); this run has {Ranks}. " +
                $"Resume with the same number of ranks ({(saved == 1 ? "without --distributed, or mpirun -np 1" : $"mpirun -np {saved} ... --distributed")}): " +
                "each rank's slice of a batch, and so the arithmetic, depends on it");
    }
}
