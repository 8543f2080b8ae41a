using System.Security.Cryptography;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Acwa.Onnx.IO;

namespace Acwa.Onnx.Training;

public sealed partial class Trainer
{
    /// <summary>Format tag of the trainer's part of a checkpoint's metadata (<c>extra.trainer</c>).</summary>
    public const string TrainerStateFormat = "acwa-trainer/1";

    private string OrderFingerprint(int epoch) =>
        Convert.ToHexString(SHA256.HashData(MemoryMarshal.AsBytes(_trainLoader.EpochOrder(epoch).AsSpan())))[..16];

    // The history of the epochs before a resume (from the resumed checkpoint), carried into every later checkpoint.
    private JsonArray _resumedHistory = [];

    /// <summary>
    /// The trainer's part of a checkpoint: after a finished epoch (<paramref name="last"/>, not yet in the history), or
    /// mid-epoch at <paramref name="position"/> (its next batch and the running sums of the batches before it).
    /// </summary>
    private JsonObject CheckpointMeta(EpochResult? last, EpochPosition? position)
    {
        var history = new JsonArray();
        foreach (var h in _resumedHistory) history.Add(h!.DeepClone());
        foreach (var r in _history) history.Add(r.ToJson());
        if (last is not null) history.Add(last.ToJson());
        var meta = new JsonObject
        {
            ["trainer"] = new JsonObject
            {
                ["format"] = TrainerStateFormat,
                ["completed_epochs"] = CompletedEpochs,
                ["global_step"] = GlobalStep,
                ["epochs"] = Options.Epochs,
                ["policy_spec"] = _policy.Spec,
                ["policy"] = _policy.SaveState(),
                ["feedback"] = FeedbackName(Options.Feedback),
                ["schedule"] = _schedule.Spec,
                ["rng"] = new JsonObject
                {
                    // Every random draw is derived from these seeds and a position, so they are the whole RNG state.
                    ["data_seed"] = Options.Seed,
                    ["dropout_seed"] = _runner.DropoutSeed,
                    ["micro_step"] = _runner.MicroStep,
                },
                ["data"] = new JsonObject
                {
                    ["train_count"] = _trainLoader.Dataset.Count,
                    ["validation_count"] = _validationLoader.Dataset.Count,
                    ["batch_size"] = Options.BatchSize,
                    ["drop_last"] = Options.DropLast,
                    ["next_epoch_order_sha256"] = OrderFingerprint(CompletedEpochs),
                },
                ["divergence"] = _divergence.Save(),
                ["config"] = Options.Config?.DeepClone() ?? new JsonObject(),
                ["history"] = history,
            },
        };
        if (_comm is not null) meta["trainer"]!["distributed"] = DistributedMeta();
        if (position is not null)
            meta["trainer"]!["position"] = new JsonObject
            {
                // Doubles round-trip exactly through JSON, so the resumed epoch's mean loss is the uninterrupted one's.
                ["epoch"] = position.Epoch, ["next_batch"] = position.NextBatch,
                ["loss_sum"] = position.LossSum, ["samples"] = position.Samples, ["correct"] = position.Correct,
            };
        if (position?.TrainConfusion is { } counts)
            meta["trainer"]!["position"]!["train_confusion"] = new JsonArray(counts.Select(v => (JsonNode)v).ToArray());
        return meta;
    }

    /// <summary>The checkpoint's name of a feedback source (<c>trainer.feedback</c>): validation or training.</summary>
    private static string FeedbackName(Weighting.FeedbackSource source) => source.ToString().ToLowerInvariant();

    /// <summary>A mid-epoch position's training confusion counts: <c>C x C</c> non-negative integers, row-major.</summary>
    private long[] ReadTrainConfusion(string checkpointPath, JsonNode? node)
    {
        int c = _runner.NumClasses;
        string where = $"'{checkpointPath}': trainer.position.train_confusion";
        if (node is not JsonArray a)
            throw new InvalidDataException($"{where} is {(node is null ? "missing" : node.ToJsonString())}; a mid-epoch checkpoint of a run with training feedback holds the epoch's {c} x {c} confusion counts");
        if (a.Count != c * c) throw new InvalidDataException($"{where} has {a.Count} counts; {c} classes need {c * c}");
        var counts = new long[a.Count];
        for (int i = 0; i < counts.Length; i++)
        {
            if (a[i] is not JsonValue v || !v.TryGetValue<long>(out counts[i]) || counts[i] < 0)
                throw new InvalidDataException($"{where}[{i}] is {a[i]?.ToJsonString() ?? "null"}, not a non-negative integer");
        }
        return counts;
    }

    /// <summary>
    /// Restores a checkpoint written by this trainer's loop (<see cref="TrainerOptions.CheckpointPath"/>): the runner's state
    /// and step counters, the policy's state, the epoch and global step, and for a mid-epoch checkpoint the position in the
    /// epoch. <see cref="Run"/> then continues with the next epoch, or the next batch, exactly as the interrupted run would have. The run must use the same data (counts and order), batch size,
    /// seed, epochs, schedule, policy and feedback source (<see cref="TrainerOptions.Feedback"/>; a checkpoint without one was fed from validation); otherwise an <see cref="InvalidDataException"/> names the field and both values.
    /// Returns the checkpoint's epoch history (JSON, one object per finished epoch); later checkpoints carry it on, so a run
    /// resumed any number of times keeps the history of all its epochs.
    /// </summary>
    public JsonArray Resume(string checkpointPath)
    {
        ArgumentNullException.ThrowIfNull(checkpointPath);
        // Check the trainer part before touching the runner's state.
        var fileMeta = TensorFile.LoadMeta(checkpointPath); // the checksum is checked by the runner's load below
        if ((fileMeta["extra"] as JsonObject)?["trainer"] is not JsonObject t)
            throw new InvalidDataException($"'{checkpointPath}' has no trainer state (meta.extra.trainer); it was not written by the Trainer");
        string Where(string f) => $"'{checkpointPath}': trainer.{f}";
        // A value of the wrong JSON kind (hand-edited meta with a valid checksum) names the field, not InvalidOperationException.
        T? Read<T>(string field, JsonNode? node)
        {
            if (node is null) return default;
            try { return node.GetValue<T>(); }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{Where(field)} is {node.ToJsonString()}, not a {typeof(T).Name}", e);
            }
        }
        if (Read<string>("format", t["format"]) is var format && format != TrainerStateFormat)
            throw new InvalidDataException($"{Where("format")} is '{format}', expected '{TrainerStateFormat}'");
        void Same<T>(string field, JsonNode? node, T now) where T : IEquatable<T>
        {
            T? was = Read<T>(field, node);
            if (was is null || !was.Equals(now)) throw new InvalidDataException($"{Where(field)} is {(was is null ? "missing" : was)}, this run has {now}; resuming would not continue the same run");
        }
        var data = t["data"] as JsonObject ?? throw new InvalidDataException($"{Where("data")} is missing");
        var rng = t["rng"] as JsonObject ?? throw new InvalidDataException($"{Where("rng")} is missing");
        Same("epochs", t["epochs"], Options.Epochs);
        Same("schedule", t["schedule"], _schedule.Spec);
        Same("policy_spec", t["policy_spec"], _policy.Spec);
        // Checkpoints from before the feedback option have no trainer.feedback: they were fed from validation.
        string feedback = t["feedback"] is { } fb ? Read<string>("feedback", fb) ?? "" : FeedbackName(Weighting.FeedbackSource.Validation);
        if (feedback != FeedbackName(Options.Feedback))
            throw new InvalidDataException($"{Where("feedback")} is {feedback}, this run has {FeedbackName(Options.Feedback)} (TrainerOptions.Feedback); " +
                "resume with the feedback source the run was started with: the policy's state and the epoch's counts belong to it");
        Same("data.train_count", data["train_count"], _trainLoader.Dataset.Count);
        Same("data.validation_count", data["validation_count"], _validationLoader.Dataset.Count);
        Same("data.batch_size", data["batch_size"], Options.BatchSize);
        Same("data.drop_last", data["drop_last"], Options.DropLast);
        Same("rng.data_seed", rng["data_seed"], Options.Seed);
        // Ranks other than 0 draw Dropout masks from their own seed (docs/distributed.md); rank 0's is the run's.
        if (Rank == 0) Same("rng.dropout_seed", rng["dropout_seed"], _runner.DropoutSeed);
        CheckSameRanks(checkpointPath, t);
        int completed = t["completed_epochs"] is { } ce ? Read<int>("completed_epochs", ce) : throw new InvalidDataException($"{Where("completed_epochs")} is missing");
        if (completed < 0 || completed > Options.Epochs) throw new InvalidDataException($"{Where("completed_epochs")} is {completed}, outside [0, {Options.Epochs}]");
        Same("data.next_epoch_order_sha256", data["next_epoch_order_sha256"], OrderFingerprint(completed));
        var policyState = t["policy"] as JsonObject ?? throw new InvalidDataException($"{Where("policy")} is missing");

        long? globalStep = t["global_step"] is { } gs ? Read<long>("global_step", gs) : null;
        EpochPosition? position = null;
        if (t["position"] is { } pn)
        {
            if (pn is not JsonObject p) throw new InvalidDataException($"{Where("position")} is {pn.ToJsonString()}, not an object");
            JsonNode Field(string f) => p[f] ?? throw new InvalidDataException($"{Where("position." + f)} is missing");
            position = new EpochPosition(Read<int>("position.epoch", Field("epoch")), Read<int>("position.next_batch", Field("next_batch")),
                Read<double>("position.loss_sum", Field("loss_sum")), Read<long>("position.samples", Field("samples")), Read<long>("position.correct", Field("correct")));
            if (position.Epoch != completed)
                throw new InvalidDataException($"{Where("position.epoch")} is {position.Epoch}, but completed_epochs is {completed}: a mid-epoch position must be in the epoch after the completed ones");
            if (position.NextBatch < 0 || position.NextBatch > BatchesPerEpoch)
                throw new InvalidDataException($"{Where("position.next_batch")} is {position.NextBatch}, outside [0, {BatchesPerEpoch}]");
            if (Options.Feedback == Weighting.FeedbackSource.Training)
                position = position with { TrainConfusion = ReadTrainConfusion(checkpointPath, p["train_confusion"]) };
        }

        _runner.LoadCheckpoint(checkpointPath);
        try { _policy.LoadState((JsonObject)policyState.DeepClone()); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{Where("policy")}: {e.Message}", e);
        }
        try { _divergence.Load(t["divergence"] as JsonObject); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{Where("divergence")}: {e.Message}", e);
        }
        CompletedEpochs = completed;
        _resumePosition = position;
        GlobalStep = globalStep ?? _runner.MicroStep;
        _resumedHistory = t["history"] is JsonArray h ? (JsonArray)h.DeepClone() : [];
        _history.Clear();
        return (JsonArray)_resumedHistory.DeepClone();
    }
}
