namespace Acwa.Onnx.Weighting;

/// <summary>
/// Creates class-weight policies from spec strings, <c>name</c> or <c>name:key=value,...</c>
/// (e.g. <c>cb:beta=0.999</c>, <c>acwa:clip=off</c>, <c>drw:at=0.8,then=[cb:beta=0.999]</c>), and lists them.
/// </summary>
public static class PolicyFactory
{
    private sealed record Entry(string Name, string Description, string[] Keys, string Defaults,
        Func<PolicySpec, long[], int, ClassWeightPolicy> Create);

    private static readonly Entry[] Entries =
    [
        new("uniform", "all weights 1 (plain cross-entropy)", [], "",
            (s, counts, _) => new UniformPolicy(counts.Length)),
        new("inv", "inverse class frequency, normalised to mean 1", [], "",
            (s, counts, _) => new InverseFrequencyPolicy(counts)),
        new("cb", "class-balanced (Cui et al.): 1/effective number (1-beta^n)/(1-beta), sum C", ["beta"], "beta=0.9999",
            (s, counts, _) => new ClassBalancedPolicy(counts, s.Number("beta", ClassBalancedPolicy.DefaultBeta, b => b >= 0 && b < 1, "must lie in [0, 1)"))),
        new("drw", "deferred re-weighting: uniform until a switch epoch, then another policy", ["at", "epoch", "then"], "at=0.8, then=cb (or epoch=N)",
            CreateDrw),
        new("acwa", "ACWA exactly as the paper: w <- clip(beta*w + (1-beta)*(w + alpha*(target - F1)), min, max)",
            ["alpha", "beta", "target", "min", "max", "clip", "init"], "alpha=0.02, beta=0.9, target=1, min=0.5, max=2, clip=on, init=1",
            (s, counts, _) =>
            {
                double min = s.Number("min", 0.5, _ => true, "");
                return new AcwaPolicy(counts.Length,
                    alpha: s.Number("alpha", 0.02, _ => true, ""),
                    beta: s.Number("beta", 0.9, b => b >= 0 && b <= 1, "must lie in [0, 1]"),
                    target: s.Number("target", 1.0, _ => true, ""),
                    minWeight: min,
                    maxWeight: s.Number("max", 2.0, m => m >= min, $"must be at least min = {PolicySpec.Num(min)}"),
                    clip: s.Switch("clip", true),
                    initial: s.Number("init", 1.0, _ => true, ""));
            }),
        new("acwa-centered", "additive step on mean(F1) - F1_c, normalised to mean 1, clipped", ["eta", "min", "max", "clip"], "eta=1, min=0.2, max=5, clip=on",
            (s, counts, _) =>
            {
                var (eta, min, max, clip) = ReadVariant(s, 1.0);
                return new AcwaCenteredPolicy(counts.Length, eta, min, max, clip);
            }),
        new("acwa-mult", "multiplicative step exp(eta*(mean(F1) - F1_c)), normalised to mean 1, clipped", ["eta", "min", "max", "clip"], "eta=2, min=0.2, max=5, clip=on",
            (s, counts, _) =>
            {
                var (eta, min, max, clip) = ReadVariant(s, 2.0);
                return new AcwaMultiplicativePolicy(counts.Length, eta, min, max, clip);
            }),
        new("acwa-prior", "stable ACWA: frequency prior x exp(smoothed, support-weighted F1 feedback that decays back to the prior)",
            ["prior", "prior_beta", "ema", "k", "eta", "shrink", "min", "max"],
            "prior=cb, prior_beta=0.9999, ema=0.8, k=20, eta=1, shrink=0.25, min=0.2, max=5",
            (s, counts, _) =>
            {
                var prior = ReadPrior(s);
                var (min, max) = ReadWeightBounds(s);
                return new AcwaPriorPolicy(counts, prior,
                    priorBeta: s.Number("prior_beta", ClassBalancedPolicy.DefaultBeta, b => b >= 0 && b < 1, "must lie in [0, 1)"),
                    ema: s.Number("ema", 0.8, e => e >= 0 && e < 1, "must lie in [0, 1)"),
                    k: s.Number("k", 20, k => k >= 0, "must be non-negative"),
                    eta: s.Number("eta", 1.0, e => e >= 0, "must be non-negative"),
                    shrink: s.Number("shrink", 0.25, r => r > 0 && r <= 1, "must lie in (0, 1]"),
                    minWeight: min,
                    maxWeight: max);
            }),
        new("acwa-wilson", "uncertainty-aware ACWA: prior x exp(leaky feedback that counts only where the class's Wilson interval excludes the mean)",
            ["metric", "prior", "prior_beta", "ema", "z", "eta", "shrink", "min", "max"],
            "metric=f1, prior=cb, prior_beta=0.9999, ema=0.8, z=1.96, eta=1, shrink=0.25, min=0.2, max=5",
            (s, counts, _) =>
            {
                var (min, max) = ReadWeightBounds(s);
                return new AcwaWilsonPolicy(counts, ReadMetric(s, "f1"), ReadPrior(s),
                    priorBeta: s.Number("prior_beta", ClassBalancedPolicy.DefaultBeta, b => b >= 0 && b < 1, "must lie in [0, 1)"),
                    ema: s.Number("ema", 0.8, e => e >= 0 && e < 1, "must lie in [0, 1)"),
                    z: s.Number("z", 1.96, z => z >= 0, "must be non-negative"),
                    eta: s.Number("eta", 1.0, e => e >= 0, "must be non-negative"),
                    shrink: s.Number("shrink", 0.25, r => r > 0 && r <= 1, "must lie in (0, 1]"),
                    minWeight: min,
                    maxWeight: max);
            }),
        new("cdb", "class difficulty (after the CDB loss): w_c = C*(1 - recall_c)^tau / sum_j (1 - recall_j)^tau, clipped",
            ["metric", "tau", "ema", "min", "max"], "metric=recall, tau=1, ema=0, min=0.2, max=5",
            (s, counts, _) =>
            {
                var (min, max) = ReadWeightBounds(s);
                return new ClassDifficultyPolicy(counts.Length, ReadMetric(s, "recall"),
                    tau: s.Number("tau", 1.0, t => t >= 0, "must be non-negative"),
                    ema: s.Number("ema", 0, e => e >= 0 && e < 1, "must lie in [0, 1)"),
                    minWeight: min,
                    maxWeight: max);
            }),
        new("la-recall", "adaptive logit adjustment (needs --loss la): offsets log(prior_c) - clip(integral of eta*(mean recall - smoothed recall_c), +-bound); weights 1",
            ["eta", "ema", "bound"], "eta=1, ema=0.5, bound=2",
            (s, counts, _) => new AdaptiveLogitAdjustmentPolicy(counts,
                eta: s.Number("eta", AdaptiveLogitAdjustmentPolicy.DefaultEta, e => e >= 0, "must be non-negative"),
                ema: s.Number("ema", AdaptiveLogitAdjustmentPolicy.DefaultEma, e => e >= 0 && e < 1, "must lie in [0, 1)"),
                bound: s.Number("bound", AdaptiveLogitAdjustmentPolicy.DefaultBound, b => b >= 0, "must be non-negative"))),
    ];

    /// <summary>Every policy name with a one-line description and its options with defaults, in a fixed order.</summary>
    public static IReadOnlyList<PolicyInfo> Policies { get; } =
        Array.AsReadOnly(Entries.Select(e => new PolicyInfo(e.Name, e.Description, e.Defaults)).ToArray());

    /// <summary>The valid policy names.</summary>
    public static IReadOnlyList<string> Names { get; } = Array.AsReadOnly(Entries.Select(e => e.Name).ToArray());

    /// <summary>
    /// Creates the policy named by <paramref name="spec"/> for a training set with <paramref name="trainCounts"/>
    /// samples per class (its length is the number of classes) and a run of <paramref name="totalEpochs"/> epochs.
    /// Options not given take the defaults listed in <see cref="Policies"/>; the result's
    /// <see cref="IClassWeightPolicy.Spec"/> spells them all out and recreates the same policy.
    /// </summary>
    /// <exception cref="FormatException">Unknown name (the message lists the valid names), unknown option (lists the
    /// policy's options), malformed spec, or an option value that is not valid.</exception>
    /// <exception cref="ArgumentException">Invalid class counts or epochs.</exception>
    public static ClassWeightPolicy Create(string spec, long[] trainCounts, int totalEpochs)
    {
        ArgumentNullException.ThrowIfNull(trainCounts);
        ClassPriors.CheckCounts(trainCounts, nameof(trainCounts));
        if (totalEpochs < 1)
            throw new ArgumentOutOfRangeException(nameof(totalEpochs), totalEpochs, "A run needs at least one epoch.");
        return CreateFrom(PolicySpec.Parse(spec), trainCounts, totalEpochs);
    }

    private static ClassWeightPolicy CreateFrom(PolicySpec spec, long[] trainCounts, int totalEpochs)
    {
        var entry = Array.Find(Entries, e => e.Name == spec.Name)
            ?? throw new FormatException($"Unknown class-weight policy '{spec.Name}' (in '{spec.Text}'); valid policies: {string.Join(", ", Names)}.");
        spec.CheckKeys(entry.Keys);
        try
        {
            return entry.Create(spec, trainCounts, totalEpochs);
        }
        catch (ArgumentOutOfRangeException e)
        {
            // Constructor checks that the spec reader could not express (e.g. init outside the clip range).
            throw new FormatException($"Policy spec '{spec.Text}' is not valid: {e.Message}", e);
        }
    }

    private static ClassWeightPolicy CreateDrw(PolicySpec s, long[] counts, int totalEpochs)
    {
        if (s.Has("at") && s.Has("epoch"))
            throw new FormatException($"Policy 'drw' takes 'at' (a fraction) or 'epoch' (an epoch number), not both (in '{s.Text}').");
        var thenText = s.Raw("then") ?? "cb";
        ClassWeightPolicy then;
        try
        {
            then = CreateFrom(PolicySpec.Parse(thenText), counts, totalEpochs);
        }
        catch (FormatException e)
        {
            throw new FormatException($"Policy 'drw' option 'then' is not valid (in '{s.Text}'): {e.Message}", e);
        }
        // DRW hands over class weights only; the trainer reads logit offsets from the outer policy, so a nested offset policy
        // would silently train with static offsets.
        if (then is ILogitOffsetPolicy)
            throw new FormatException($"Policy 'drw' option 'then' is '{then.Spec}', which moves logit offsets, not class weights; DRW cannot defer it (in '{s.Text}'). Use it on its own with --loss la.");
        if (s.Has("epoch"))
            return new DeferredReweightingPolicy(then, totalEpochs, s.Integer("epoch", 0, 0));
        return new DeferredReweightingPolicy(then, totalEpochs, s.Number("at", DeferredReweightingPolicy.DefaultAt, a => a >= 0 && a <= 1, "must lie in [0, 1]"));
    }

    private static PriorKind ReadPrior(PolicySpec s) => s.Choice("prior", "cb", "cb", "inv", "uniform") switch
    {
        "cb" => PriorKind.ClassBalanced,
        "inv" => PriorKind.InverseFrequency,
        _ => PriorKind.Uniform,
    };

    private static FeedbackMetric ReadMetric(PolicySpec s, string fallback) =>
        s.Choice("metric", fallback, "f1", "recall") == "recall" ? FeedbackMetric.Recall : FeedbackMetric.F1;

    private static (double Eta, double Min, double Max, bool Clip) ReadVariant(PolicySpec s, double defaultEta)
    {
        double eta = s.Number("eta", defaultEta, e => e >= 0, "must be non-negative");
        var (min, max) = ReadWeightBounds(s);
        return (eta, min, max, s.Switch("clip", true));
    }

    /// <summary>The clipping bounds <c>min</c> (default 0.2, positive) and <c>max</c> (default 5, at least min) of a policy's weights.</summary>
    private static (double Min, double Max) ReadWeightBounds(PolicySpec s)
    {
        double min = s.Number("min", 0.2, m => m > 0, "must be positive");
        return (min, s.Number("max", 5.0, m => m >= min, $"must be at least min = {PolicySpec.Num(min)}"));
    }
}
