using System.Text.Json.Nodes;

namespace Acwa.Onnx.Weighting;

/// <summary>
/// Shared machinery of the built-in policies: epoch bookkeeping, feedback validation, atomic updates (a failed
/// update leaves the policy unchanged) and the common part of the JSON state. Only this library derives from it;
/// implement <see cref="IClassWeightPolicy"/> directly for a policy of your own.
/// </summary>
public abstract class ClassWeightPolicy : IClassWeightPolicy
{
    internal const string StateFormat = "acwa-policy/1";

    private double[] _weights;
    private readonly long[]? _trainCounts;

    private protected ClassWeightPolicy(int numClasses, long[]? trainCounts)
    {
        if (numClasses < 1)
            throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "A policy needs at least one class.");
        if (trainCounts is not null)
        {
            ClassPriors.CheckCounts(trainCounts, nameof(trainCounts));
            if (trainCounts.Length != numClasses)
                throw new ArgumentException($"trainCounts has {trainCounts.Length} entries; the policy has {numClasses} classes.", nameof(trainCounts));
            _trainCounts = (long[])trainCounts.Clone();
        }
        NumClasses = numClasses;
        _weights = new double[numClasses];
        Array.Fill(_weights, 1.0);
    }

    /// <inheritdoc />
    public abstract string Spec { get; }

    /// <inheritdoc />
    public int NumClasses { get; }

    /// <inheritdoc />
    public ReadOnlySpan<double> Current => _weights;

    /// <inheritdoc />
    public int LastEpoch { get; private set; } = -1;

    /// <summary>Class counts of the training set the policy was built for, or null for policies that do not use them.</summary>
    private protected long[]? TrainCounts => _trainCounts;

    /// <inheritdoc />
    public double[] Update(EpochFeedback feedback)
    {
        ArgumentNullException.ThrowIfNull(feedback);
        if (feedback.F1 is { } f1 && f1.Length != NumClasses)
            throw new ArgumentException($"EpochFeedback has {f1.Length} classes; the policy '{Spec}' has {NumClasses}.", nameof(feedback));
        feedback.Validate(NumClasses);
        if (feedback.Epoch <= LastEpoch)
            throw new ArgumentException($"Feedback for epoch {feedback.Epoch} arrived after the feedback for epoch {LastEpoch}; epochs must increase.", nameof(feedback));
        var next = Step(feedback);
        for (int c = 0; c < next.Length; c++)
        {
            if (!double.IsFinite(next[c]))
                throw new InvalidOperationException($"Policy '{Spec}' produced a non-finite weight {next[c]:R} for class {c} after epoch {feedback.Epoch}.");
        }
        Commit();
        _weights = next;
        LastEpoch = feedback.Epoch;
        return (double[])next.Clone();
    }

    /// <summary>
    /// Computes the next weights (a new array of <see cref="NumClasses"/> entries) without changing any state; the
    /// internal memory it wants to change is staged and written in <see cref="Commit"/>, which runs only once
    /// the result has been checked.
    /// </summary>
    private protected abstract double[] Step(EpochFeedback feedback);

    /// <summary>Makes the memory staged by the last <see cref="Step"/> current. Stateless policies do nothing.</summary>
    private protected virtual void Commit() { }

    /// <summary>Sets the weights of epoch 0 (construction only).</summary>
    private protected void SetInitial(double[] weights)
    {
        if (weights.Length != NumClasses)
            throw new InvalidOperationException($"Initial weights have {weights.Length} entries, expected {NumClasses}.");
        _weights = weights;
    }

    /// <inheritdoc />
    public JsonObject SaveState()
    {
        var state = new JsonObject
        {
            ["format"] = StateFormat,
            ["spec"] = Spec,
            ["num_classes"] = NumClasses,
            ["last_epoch"] = LastEpoch,
            ["weights"] = PolicyState.ToJson(_weights),
        };
        if (_trainCounts is not null)
            state["train_counts"] = PolicyState.ToJson(_trainCounts);
        SaveExtra(state);
        return state;
    }

    /// <inheritdoc />
    public void LoadState(JsonObject state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var format = PolicyState.GetString(state, "format");
        if (format != StateFormat)
            throw new ArgumentException($"Policy state field 'format' is '{format}', expected '{StateFormat}'.", nameof(state));
        var spec = PolicyState.GetString(state, "spec");
        if (spec != Spec)
            throw new ArgumentException($"Policy state field 'spec' is '{spec}', but this policy is '{Spec}'.", nameof(state));
        int numClasses = PolicyState.GetInt(state, "num_classes");
        if (numClasses != NumClasses)
            throw new ArgumentException($"Policy state field 'num_classes' is {numClasses}, but this policy has {NumClasses} classes.", nameof(state));
        int lastEpoch = PolicyState.GetInt(state, "last_epoch");
        if (lastEpoch < -1)
            throw new ArgumentException($"Policy state field 'last_epoch' is {lastEpoch}; it must be -1 or more.", nameof(state));
        var weights = PolicyState.GetDoubles(state, "weights", NumClasses);
        if (_trainCounts is not null)
        {
            var counts = PolicyState.GetLongs(state, "train_counts", NumClasses);
            for (int c = 0; c < NumClasses; c++)
            {
                if (counts[c] != _trainCounts[c])
                    throw new ArgumentException($"Policy state field 'train_counts'[{c}] is {counts[c]}, but this policy was built for {_trainCounts[c]}.", nameof(state));
            }
        }
        LoadExtra(state);
        _weights = weights;
        LastEpoch = lastEpoch;
    }

    /// <summary>Adds policy-specific memory to the state.</summary>
    private protected virtual void SaveExtra(JsonObject state) { }

    /// <summary>Reads policy-specific memory; must throw before changing anything when the state is malformed.</summary>
    private protected virtual void LoadExtra(JsonObject state) { }

    /// <summary>The canonical spec.</summary>
    public override string ToString() => Spec;
}
