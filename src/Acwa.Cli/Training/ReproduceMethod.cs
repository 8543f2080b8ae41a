namespace Acwa.Cli.Training;

/// <summary>
/// One method of <c>acwa reproduce</c>: a loss and a class-weight policy spec, plus the paper's claimed macro-F1 (percent) on
/// CIFAR-10 and ISIC-2018 where the paper gives one (docs/protocol.md, "What the paper claims"; it has no Fashion-MNIST numbers).
/// Every method shares the model, optimiser (Adam), learning rate, batch size, data split and seeds.
/// </summary>
internal sealed record ReproduceMethod(string Name, string Loss, string Policy, string Description, double? PaperCifar10, double? PaperIsic2018, bool? Baseline = null,
    string? Optimizer = null, double? LearningRate = null, Onnx.Weighting.FeedbackSource Feedback = Onnx.Weighting.FeedbackSource.Validation)
{
    /// <summary>Every method, in the order of the results table: the paper's baselines, the paper's ACWA and its variants, then the later baselines (LA, LA-DRW) and the adaptive candidates of issue 25.</summary>
    public static IReadOnlyList<ReproduceMethod> All { get; } =
    [
        new("ce", "ce", "uniform", "plain cross-entropy", null, null),
        new("focal", "focal", "uniform", "focal loss, gamma 2, uniform weights", 81.3, 68.2),
        new("cb", "ce", "cb:beta=0.9999", "class-balanced weights (Cui et al.), beta 0.9999", 82.7, 69.5),
        new("ldam-drw", "ldam", "drw:at=0.8,then=[cb:beta=0.9999]", "LDAM (s 30, max margin 0.5) + deferred re-weighting to class-balanced at 80%", 84.1, 71.0),
        new("acwa", "ce", "acwa", "ACWA exactly as the paper (alpha 0.02, beta 0.9, target 1, clip [0.5, 2])", 87.5, 73.8),
        new("acwa-beta0", "ce", "acwa:beta=0", "paper ablation: no smoothing (beta 0)", 84.2, 70.1),
        new("acwa-noclip", "ce", "acwa:clip=off", "paper ablation: no clipping", 85.9, 71.6),
        new("acwa-alpha0.1", "ce", "acwa:alpha=0.1", "paper ablation: alpha 0.1", 86.0, 72.3),
        new("acwa-centered", "ce", "acwa-centered", "additive step on mean(F1) - F1_c, normalised to mean 1, clipped [0.2, 5]", null, null),
        new("acwa-mult", "ce", "acwa-mult", "multiplicative step exp(2 (mean(F1) - F1_c)), normalised to mean 1, clipped [0.2, 5]", null, null),
        new("acwa-prior", "ce", "acwa-prior", "class-balanced prior x smoothed, support-weighted F1 feedback", null, null),
        new("la", "la", "uniform", "logit-adjusted loss, tau 1 (log prior added to the logits in training; with tau 1 this is balanced softmax)", null, null),
        new("la-drw", "la", "drw:at=0.8,then=[cb:beta=0.9999]", "logit-adjusted loss + deferred re-weighting to class-balanced at 80%", null, null),
        new("cdb", "ce", "cdb", "class-difficulty weights (after the CDB loss): (1 - validation recall)^1, mean 1, clipped [0.2, 5]", null, null),
        new("acwa-wilson", "ce", "acwa-wilson", "class-balanced prior x leaky F1 feedback gated by each class's 95% Wilson interval", null, null),
        new("ldam-drw-prior", "ldam", "drw:at=0.8,then=[acwa-prior]", "LDAM + deferred phase with acwa-prior instead of class-balanced weights", null, null),
        new("ldam-drw-wilson", "ldam", "drw:at=0.8,then=[acwa-wilson]", "LDAM + deferred phase with acwa-wilson instead of class-balanced weights", null, null),
        new("la-drw-wilson", "la", "drw:at=0.8,then=[acwa-wilson:prior=uniform]", "logit-adjusted loss + deferred phase with acwa-wilson feedback around uniform weights (the loss already holds the prior)", null, null),
    ];

    /// <summary>The static baselines (everything else is an adaptive candidate).</summary>
    public static IReadOnlyList<string> BaselineNames { get; } = ["ce", "focal", "cb", "ldam-drw", "la", "la-drw"];

    /// <summary>The names valid in <c>--methods</c>.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(m => m.Name).ToArray();

    /// <summary>A static baseline (<see cref="BaselineNames"/>), which the verdict compares the adaptive methods with.</summary>
    public bool IsBaseline => Baseline ?? BaselineNames.Contains(Name);

    /// <summary>
    /// A method given on the command line as <c>NAME=LOSS/POLICY</c> (<c>--extra-method</c>, an adaptive candidate, or
    /// <c>--extra-baseline</c>), e.g. <c>wilson-eta2=ce/acwa-wilson:eta=2</c> or <c>cb-0.999=ce/cb:beta=0.999</c>: NAME of
    /// lower-case letters, digits, '.', '_' and '-', not a built-in name; LOSS a loss spec (e.g. <c>focal:gamma=1</c>,
    /// <c>la:tau=1.5</c>, <c>ldam:margin=0.3</c>); POLICY a valid policy spec; an optional third part <c>/OPTIMIZER[:lr=LR]</c>
    /// (adam, sgd with momentum 0.9, adamw) runs this method with its own optimizer and learning rate instead of
    /// reproduce's Adam at <c>--lr</c>, e.g. <c>ldam-drw-sgd=ldam/drw:at=0.8,then=[cb:beta=0.9999]/sgd:lr=0.01</c>; an optional
    /// part <c>/feedback=training</c> (or <c>feedback=validation</c>, the default), after the optimizer part if there is one,
    /// feeds the policy from the epoch's training predictions instead of the validation split
    /// (<see cref="Onnx.Training.TrainerOptions.Feedback"/>), e.g. <c>wilson-tr=ce/acwa-wilson/feedback=training</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Malformed text, a name taken, an unknown loss or optimizer, or an invalid policy spec.</exception>
    public static ReproduceMethod ParseExtra(string text, bool baseline)
    {
        string option = baseline ? "--extra-baseline" : "--extra-method";
        int eq = text.IndexOf('=');
        const string Syntax = "NAME=LOSS/POLICY[/OPTIMIZER[:lr=LR]][/feedback=training]";
        var parts = eq <= 0 ? [] : text[(eq + 1)..].Split('/');
        if (eq <= 0 || parts.Length is < 2 or > 4)
            throw new ArgumentException($"{option} '{text}' is not {Syntax} (e.g. wilson-eta2=ce/acwa-wilson:eta=2)");
        string name = text[..eq].Trim(), loss = parts[0].Trim(), policy = parts[1].Trim();
        (string? optimizer, double? lr) = (null, null);
        Onnx.Weighting.FeedbackSource? feedback = null;
        foreach (var raw in parts.Skip(2))
        {
            var part = raw.Trim();
            if (part.StartsWith("feedback", StringComparison.OrdinalIgnoreCase))
            {
                if (feedback is not null)
                    throw new ArgumentException($"{option} '{text}' is not {Syntax}: the part '{part}' gives the feedback source a second time");
                var kv = part.Split('=', 2, StringSplitOptions.TrimEntries);
                try
                {
                    if (kv.Length != 2 || !kv[0].Equals("feedback", StringComparison.OrdinalIgnoreCase)) throw new FormatException($"it is not feedback=training or feedback=validation");
                    feedback = Onnx.Training.Runs.TrainingRunOptions.ParseFeedback(kv[1]);
                }
                catch (FormatException e)
                {
                    throw new ArgumentException($"{option} '{text}': the feedback part '{part}' is not feedback=training or feedback=validation ({e.Message})", e);
                }
            }
            else if (feedback is not null)
                throw new ArgumentException($"{option} '{text}' is not {Syntax}: the part '{part}' comes after the feedback part; the optimizer part goes before it");
            else if (optimizer is not null)
                throw new ArgumentException($"{option} '{text}' is not {Syntax}: the part '{part}' is neither feedback=training nor a first optimizer part (the optimizer is already '{parts[2].Trim()}')");
            else
                (optimizer, lr) = ParseOptimizer(option, text, part);
        }
        if (name.Length == 0 || !name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '_' or '-'))
            throw new ArgumentException($"{option} '{text}': the name '{name}' must be lower-case letters, digits, '.', '_' or '-' (it names the run folders)");
        if (Names.Contains(name))
            throw new ArgumentException($"{option} '{text}': '{name}' is a built-in method; choose another name");
        try
        {
            var (lossKind, _) = Onnx.Training.Compiler.TrainingNames.ParseLossSpec(loss);
            if (Onnx.Weighting.PolicyFactory.Create(policy, [100, 10], 10) is Onnx.Weighting.ILogitOffsetPolicy && lossKind != Onnx.Training.Compiler.LossKind.LogitAdjusted)
                throw new ArgumentException($"{option} '{text}': policy '{policy}' moves the offsets of the logit-adjusted loss: it needs the loss la, not '{loss}'");
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"{option} '{text}': {e.Message}", e);
        }
        return new ReproduceMethod(name, loss.ToLowerInvariant(), policy, $"{(baseline ? "baseline" : "candidate")} given with {option}{(feedback == Onnx.Weighting.FeedbackSource.Training ? ", fed from training predictions" : "")}", null, null, baseline, optimizer, lr,
            feedback ?? Onnx.Weighting.FeedbackSource.Validation);
    }

    /// <summary><c>OPTIMIZER[:lr=LR]</c> of an extra method.</summary>
    private static (string? Optimizer, double? LearningRate) ParseOptimizer(string option, string text, string spec)
    {
        int colon = spec.IndexOf(':');
        string name = (colon < 0 ? spec : spec[..colon]).Trim().ToLowerInvariant();
        try { Onnx.Training.Compiler.TrainingNames.ParseOptimizer(name); }
        catch (FormatException e) { throw new ArgumentException($"{option} '{text}': {e.Message}", e); }
        if (colon < 0) return (name, null);
        var kv = spec[(colon + 1)..].Split('=', 2, StringSplitOptions.TrimEntries);
        if (kv.Length != 2 || kv[0] != "lr" || !double.TryParse(kv[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var lr) || !(lr > 0) || !double.IsFinite(lr))
            throw new ArgumentException($"{option} '{text}': the optimizer part '{spec}' is not OPTIMIZER or OPTIMIZER:lr=LR with a positive LR");
        return (name, lr);
    }

    /// <summary>
    /// Parses a comma-separated list of method names (case-insensitive, blanks around names ignored, duplicates kept once,
    /// in the order given); null or empty selects every method.
    /// </summary>
    /// <exception cref="ArgumentException">A name is unknown (the message lists the valid names) or the list has an empty entry.</exception>
    public static IReadOnlyList<ReproduceMethod> Select(string? list) => Select(list, []);

    /// <summary>
    /// <see cref="Select(string?)"/>, then the <paramref name="extras"/> (<see cref="ParseExtra"/>) after the selected built-in
    /// methods, in the order given; with extras and no <paramref name="list"/>, only the extras run.
    /// </summary>
    /// <exception cref="ArgumentException">As <see cref="Select(string?)"/> and <see cref="ParseExtra"/>, or two extras with one name.</exception>
    public static IReadOnlyList<ReproduceMethod> Select(string? list, IReadOnlyList<ReproduceMethod> extras)
    {
        var chosen = string.IsNullOrWhiteSpace(list) ? (extras.Count > 0 ? [] : All.ToList()) : SelectBuiltIn(list);
        foreach (var e in extras)
        {
            if (chosen.Any(m => m.Name == e.Name))
                throw new ArgumentException($"two methods are called '{e.Name}'");
            chosen.Add(e);
        }
        return chosen;
    }

    private static List<ReproduceMethod> SelectBuiltIn(string list)
    {
        var chosen = new List<ReproduceMethod>();
        foreach (var raw in list.Split(','))
        {
            var name = raw.Trim();
            if (name.Length == 0)
                throw new ArgumentException($"--methods '{list}' has an empty entry; valid methods: {string.Join(", ", Names)}");
            var m = All.FirstOrDefault(x => string.Equals(x.Name, name, StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"unknown method '{name}' in --methods; valid methods: {string.Join(", ", Names)}");
            if (!chosen.Contains(m)) chosen.Add(m);
        }
        return chosen;
    }
}
