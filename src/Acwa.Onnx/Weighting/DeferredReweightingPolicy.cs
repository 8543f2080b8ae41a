using System.Text.Json.Nodes;

namespace Acwa.Onnx.Weighting;

/// <summary>
/// Deferred re-weighting (DRW, Cao et al. 2019): uniform weights until <see cref="SwitchEpoch"/>, then the weights
/// of another policy (<see cref="Then"/>; class-balanced with beta 0.9999 by default). Epochs
/// <c>0 .. SwitchEpoch - 1</c> train with all-ones; epoch <c>SwitchEpoch</c> trains with <c>Then</c>'s initial
/// weights, and from then on <c>Then</c> receives every epoch's feedback (it sees none before the switch).
/// The switch epoch is given directly (spec <c>epoch=160</c>) or as a fraction of the planned epochs (spec
/// <c>at=0.8</c>, the default): the first epoch e with <c>e &gt;= at*TotalEpochs</c>, i.e.
/// <c>ceil(at*TotalEpochs)</c> (0.8 of 200 epochs gives 160, as in the LDAM-DRW code).
/// Spec: <c>drw</c>, <c>drw:at=0.8,then=cb</c>, <c>drw:epoch=160,then=[cb:beta=0.999]</c> (a nested spec with
/// options goes in square brackets).
/// </summary>
public sealed class DeferredReweightingPolicy : ClassWeightPolicy
{
    /// <summary>Default fraction of training before the switch.</summary>
    public const double DefaultAt = 0.8;

    private readonly double? _at;

    /// <summary>Switches at the fraction <paramref name="at"/> of <paramref name="totalEpochs"/>.</summary>
    /// <param name="then">The policy used from the switch on (it must not have been updated yet).</param>
    /// <param name="totalEpochs">Planned epochs of the run; feedback must carry the same <see cref="EpochFeedback.TotalEpochs"/>.</param>
    /// <param name="at">Fraction in [0, 1].</param>
    public DeferredReweightingPolicy(ClassWeightPolicy then, int totalEpochs, double at = DefaultAt)
        : this(then, totalEpochs, SwitchFromFraction(at, totalEpochs), at) { }

    /// <summary>Switches at epoch <paramref name="switchEpoch"/> (0-based; 0 means <paramref name="then"/> from the start).</summary>
    /// <param name="then">The policy used from the switch on (it must not have been updated yet).</param>
    /// <param name="totalEpochs">Planned epochs of the run; feedback must carry the same <see cref="EpochFeedback.TotalEpochs"/>.</param>
    /// <param name="switchEpoch">First epoch trained with <paramref name="then"/>'s weights, at least 0.</param>
    public DeferredReweightingPolicy(ClassWeightPolicy then, int totalEpochs, int switchEpoch)
        : this(then, totalEpochs, switchEpoch, null) { }

    private DeferredReweightingPolicy(ClassWeightPolicy then, int totalEpochs, int switchEpoch, double? at)
        : base(then?.NumClasses ?? throw new ArgumentNullException(nameof(then)), null)
    {
        if (totalEpochs < 1)
            throw new ArgumentOutOfRangeException(nameof(totalEpochs), totalEpochs, "DRW needs at least one planned epoch.");
        if (switchEpoch < 0)
            throw new ArgumentOutOfRangeException(nameof(switchEpoch), switchEpoch, "The DRW switch epoch cannot be negative.");
        if (then is ILogitOffsetPolicy)
            throw new ArgumentException($"The DRW follow-up policy '{then.Spec}' moves logit offsets, not class weights; DRW cannot defer it.", nameof(then));
        if (then.LastEpoch != -1)
            throw new ArgumentException($"The DRW follow-up policy '{then.Spec}' has already been updated (last epoch {then.LastEpoch}).", nameof(then));
        Then = then;
        TotalEpochs = totalEpochs;
        SwitchEpoch = switchEpoch;
        _at = at;
        SetInitial(switchEpoch == 0 ? then.Current.ToArray() : UniformPolicy.Ones(NumClasses));
    }

    /// <summary>The policy in charge from <see cref="SwitchEpoch"/> on.</summary>
    public ClassWeightPolicy Then { get; }

    /// <summary>Planned epochs.</summary>
    public int TotalEpochs { get; }

    /// <summary>First (0-based) epoch trained with <see cref="Then"/>'s weights.</summary>
    public int SwitchEpoch { get; }

    /// <inheritdoc />
    public override string Spec =>
        (_at is { } at ? $"drw:at={PolicySpec.Num(at)}" : $"drw:epoch={SwitchEpoch}") + $",then=[{Then.Spec}]";

    /// <summary><c>ceil(at*totalEpochs)</c>, computed so that 0.8*200 gives exactly 160.</summary>
    internal static int SwitchFromFraction(double at, int totalEpochs)
    {
        if (!(at >= 0 && at <= 1))
            throw new ArgumentOutOfRangeException(nameof(at), at, "The DRW switch fraction must lie in [0, 1].");
        if (totalEpochs < 1)
            throw new ArgumentOutOfRangeException(nameof(totalEpochs), totalEpochs, "DRW needs at least one planned epoch.");
        return (int)Math.Ceiling(at * totalEpochs - 1e-9);
    }

    private protected override double[] Step(EpochFeedback feedback)
    {
        if (feedback.TotalEpochs != TotalEpochs)
            throw new ArgumentException($"EpochFeedback.TotalEpochs is {feedback.TotalEpochs}, but DRW '{Spec}' was planned for {TotalEpochs} epochs.", nameof(feedback));
        int next = feedback.Epoch + 1;
        if (next < SwitchEpoch)
            return UniformPolicy.Ones(NumClasses);
        if (next == SwitchEpoch)
            return Then.Current.ToArray();
        return Then.Update(feedback);
    }

    private protected override void SaveExtra(JsonObject state) => state["then"] = Then.SaveState();

    private protected override void LoadExtra(JsonObject state)
    {
        // The follow-up policy validates everything before it changes; it is restored last so that a failure
        // in the common fields (checked by the caller first) leaves both unchanged.
        Then.LoadState(PolicyState.GetObject(state, "then"));
    }
}
