using System.Text.Json;
using System.Text.Json.Serialization;
using Acwa.Onnx.IO;

namespace Acwa.Onnx.Training;

/// <summary>What a piece of training state is.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<StateKind>))]
public enum StateKind
{
    /// <summary>A trainable parameter.</summary>
    Parameter,
    /// <summary>Optimizer state (momentum buffer, Adam moments, accumulated gradient).</summary>
    Optimizer,
    /// <summary>A non-trainable buffer updated by the step (batch-norm running statistics).</summary>
    Buffer,
}

/// <summary>One state tensor carried from step to step: read from <see cref="Input"/>, written to <see cref="Output"/>.</summary>
/// <param name="Name">Stable name (the forward model's initializer name for parameters and buffers).</param>
/// <param name="Kind">Parameter, optimizer state or buffer.</param>
/// <param name="Shape">Dimensions.</param>
/// <param name="Input">Training-graph input that receives the current value.</param>
/// <param name="Output">Training-graph output that holds the next value.</param>
public sealed record StateTensor(string Name, StateKind Kind, long[] Shape, string Input, string Output);

/// <summary>A scalar or small per-step/per-epoch input of the training graph (learning rate, class weights, loss knobs).</summary>
/// <param name="Name">Graph input name.</param>
/// <param name="Shape">Dimensions (empty for a scalar; [C] for class weights or margins).</param>
/// <param name="Role">What feeds it: <c>lr</c>, <c>adam_bias1</c> (1 - b1^t), <c>adam_bias2</c> (1 - b2^t), <c>class_weights</c>,
/// <c>focal_gamma</c>, <c>ldam_margins</c>, <c>log_prior</c>, <c>accumulate_reset</c>, ...</param>
/// <param name="Default">Values to feed when the caller sets nothing.</param>
public sealed record ControlInput(string Name, long[] Shape, string Role, float[] Default);

/// <summary>
/// The split training step: a gradients graph and an update graph, between which a data-parallel trainer all-reduces the
/// gradient. State and control inputs and outputs use the names of <see cref="ArtifactManifest.State"/> and
/// <see cref="ArtifactManifest.Controls"/> (the same tensors feed all graphs). docs/training-graphs.md, "Split step".
/// </summary>
public sealed record SplitStepManifest
{
    /// <summary>Gradients graph file: inputs the batch, labels, parameters and buffers (their state inputs),
    /// <see cref="GradientsControls"/> and the dropout masks; outputs the loss, logits, predictions, <see cref="GradientOutput"/>,
    /// <see cref="LossSumOutput"/>, <see cref="NormalizerOutput"/> and the buffers' state outputs.</summary>
    public string GradientsModel { get; init; } = "gradients_model.onnx";
    /// <summary>Update graph file: inputs the parameters and optimizer state (their state inputs), <see cref="GradientInput"/>,
    /// <see cref="GradScaleInput"/> and <see cref="UpdateControls"/>; outputs their state outputs.</summary>
    public string UpdateModel { get; init; } = "update_model.onnx";
    /// <summary>P: the number of trainable values (the flat gradient's length).</summary>
    public long GradientLength { get; init; }
    /// <summary>Gradients-graph output: dS/dtheta, fp32 [P], parameters flattened and concatenated in state order.</summary>
    public string GradientOutput { get; init; } = "gradient";
    /// <summary>Gradients-graph output: S, the weighted loss sum (fp32 scalar); the loss output is S / Z.</summary>
    public string LossSumOutput { get; init; } = "loss_sum";
    /// <summary>Gradients-graph output: Z, the normaliser (sum of the batch's class weights; N for focal).</summary>
    public string NormalizerOutput { get; init; } = "loss_normalizer";
    /// <summary>Control inputs (names in <see cref="ArtifactManifest.Controls"/>) of the gradients graph.</summary>
    public List<string> GradientsControls { get; init; } = [];
    /// <summary>Update-graph input: the flat gradient fp32 [P].</summary>
    public string GradientInput { get; init; } = "gradient";
    /// <summary>Update-graph input: fp32 scalar the gradient is multiplied by (role <c>grad_scale</c>).</summary>
    public string GradScaleInput { get; init; } = "grad_scale";
    /// <summary>Control inputs (names in <see cref="ArtifactManifest.Controls"/>) of the update graph, besides <see cref="GradScaleInput"/>.</summary>
    public List<string> UpdateControls { get; init; } = [];
}

/// <summary>
/// The contract between the training-graph compiler and the runtime: which files, inputs and outputs an artifact set has.
/// Serialised as <c>manifest.json</c> beside the graphs.
/// </summary>
public sealed record ArtifactManifest
{
    /// <summary>Format tag.</summary>
    public string Format { get; init; } = "acwa-artifacts/1";
    /// <summary>Number of classes C.</summary>
    public int NumClasses { get; init; }
    /// <summary>Training-step graph file (relative to the manifest).</summary>
    public string TrainingModel { get; init; } = "training_model.onnx";
    /// <summary>Evaluation graph file.</summary>
    public string EvalModel { get; init; } = "eval_model.onnx";
    /// <summary>Initial state (parameters, optimizer state, buffers) as a <see cref="TensorFile"/>.</summary>
    public string InitialState { get; init; } = "checkpoint.acwa";
    /// <summary>Inference model with the initial parameters baked in (the runtime re-exports trained ones).</summary>
    public string InferenceModel { get; init; } = "inference_model.onnx";
    /// <summary>Batch input name and shape (-1 for the batch dimension).</summary>
    public string InputName { get; init; } = "x";
    /// <summary>Input shape, batch first as -1.</summary>
    public long[] InputShape { get; init; } = [];
    /// <summary>Label input name (int64 [N]).</summary>
    public string LabelName { get; init; } = "y";
    /// <summary>Loss output name (fp32 scalar).</summary>
    public string LossOutput { get; init; } = "loss";
    /// <summary>Logits output of the training graph ([N, C]); may be empty when only predictions are returned.</summary>
    public string LogitsOutput { get; init; } = "logits";
    /// <summary>Predictions output of the training and eval graphs (int64 [N]).</summary>
    public string PredictionsOutput { get; init; } = "predictions";
    /// <summary>Eval-graph logits output.</summary>
    public string EvalLogitsOutput { get; init; } = "logits";
    /// <summary>Loss name (ce, focal, ldam, logit-adjusted, ...).</summary>
    public string Loss { get; init; } = "ce";
    /// <summary>Optimizer name (sgd, adam, adamw).</summary>
    public string Optimizer { get; init; } = "adam";
    /// <summary>State carried between steps, in a fixed order.</summary>
    public List<StateTensor> State { get; init; } = [];
    /// <summary>Control inputs of the training graph.</summary>
    public List<ControlInput> Controls { get; init; } = [];
    /// <summary>Eval-graph output with the batch's C x C confusion counts (int64, rows = true class, columns = prediction);
    /// empty when the eval graph has none. When present the eval graph also takes <see cref="LabelName"/>.</summary>
    public string EvalConfusionOutput { get; init; } = "";
    /// <summary>Constant hyper-parameters compiled into the training graph (beta1, beta2, eps, momentum, dampening, nesterov,
    /// weight_decay, accumulation_steps, ...): the runtime needs beta1/beta2 to feed the bias corrections.</summary>
    public SortedDictionary<string, double> Hyperparameters { get; init; } = new(StringComparer.Ordinal);
    /// <summary>Dropout keep-mask inputs of the training graph (bool), generated on the host; empty without Dropout.</summary>
    public List<MaskInput> DropoutMasks { get; init; } = [];
    /// <summary>The split step's two graphs (<c>ArtifactOptions.SplitStep</c>); null (and absent from the file) when the artifacts have none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public SplitStepManifest? SplitStep { get; init; }
    /// <summary>Names of the eval graph's parameter/buffer inputs (a subset of <see cref="State"/>'s names), fed from the current state.</summary>
    public List<string> EvalStateInputs { get; init; } = [];

    // A null for a non-nullable field (a hand-edited "state": null) or a missing record field is a JsonException naming the
    // JSON path, not a NullReferenceException later in the runner.
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        RespectNullableAnnotations = true, RespectRequiredConstructorParameters = true,
    };

    /// <summary>Serialises to JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses JSON; errors name the file.</summary>
    public static ArtifactManifest Load(string path)
    {
        ArtifactManifest m;
        try { m = JsonSerializer.Deserialize<ArtifactManifest>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"'{path}' is empty"); }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not a valid artifact manifest: {e.Message.Replace(" Consider updating its nullability annotation.", "")}", e);
        }
        static void NoNulls<T>(string path, string field, List<T> items)
        {
            int i = items.FindIndex(x => x is null);
            if (i >= 0) throw new InvalidDataException($"'{path}' is not a valid artifact manifest: {field}[{i}] is null");
        }
        NoNulls(path, "state", m.State);
        NoNulls(path, "controls", m.Controls);
        NoNulls(path, "dropout_masks", m.DropoutMasks);
        NoNulls(path, "eval_state_inputs", m.EvalStateInputs);
        return m;
    }

    /// <summary>Writes atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());
}
