using System.Text.Json.Nodes;
using Acwa.Onnx.Graphs.Proto;

namespace Acwa.Onnx.Training.Compiler;

/// <summary>An artifact set in memory, as <see cref="TrainingArtifacts.Compile(Acwa.Onnx.Graphs.Proto.ModelProto, ArtifactOptions)"/> returns it.</summary>
/// <param name="TrainingModel">The training-step graph.</param>
/// <param name="EvalModel">The evaluation graph.</param>
/// <param name="InferenceModel">The forward model with the initial parameters baked in.</param>
/// <param name="Manifest">Names, roles and defaults the runtime needs.</param>
/// <param name="InitialState">Initial state in <see cref="ArtifactManifest.State"/> order (parameters, buffers, zero optimizer state).</param>
/// <param name="StateMeta">Metadata written into the checkpoint file.</param>
public sealed record ArtifactSet(ModelProto TrainingModel, ModelProto EvalModel, ModelProto InferenceModel, ArtifactManifest Manifest,
    IReadOnlyList<HostTensor> InitialState, JsonObject StateMeta)
{
    /// <summary>The split step's gradients graph (<see cref="ArtifactOptions.SplitStep"/>); null without it.</summary>
    public ModelProto? GradientsModel { get; init; }
    /// <summary>The split step's update graph; null without it.</summary>
    public ModelProto? UpdateModel { get; init; }
}
