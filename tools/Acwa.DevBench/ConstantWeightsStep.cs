using Acwa.Cli.Commands;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Training;
using Acwa.Onnx.Training.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace Acwa.DevBench;

/// <summary>
/// A diagnostic for <c>acwa-dev step --constant-weights</c>: the training-step graph with every parameter baked in as a
/// constant initializer (the runner's current values), the other state from the runner, the controls as the runner fed its
/// last step (its first step's before any step), dropout keeping every unit, and one fixed batch. It is not a training
/// step (its new parameters and optimizer state are discarded), but it does the same work, and ORT may now pick its
/// constant-weight kernels (NCHWc convolutions on CPU, pre-packed GEMM weights) and fold the kernel flips of the input
/// gradients. Timing it against the real step says how much of the step / forward gap comes from weights being inputs.
/// </summary>
internal sealed class ConstantWeightsStep : IDisposable
{
    private readonly SessionOptions _options;
    private readonly InferenceSession _session;
    private readonly OrtIoBinding _binding;
    private readonly RunOptions _run = new();
    private readonly List<OrtValue> _values = [];

    /// <param name="runner">Supplies the graph, the parameters to bake in, the optimizer state, buffers and controls.</param>
    /// <param name="x">One batch: float[] or int64 token ids.</param>
    /// <param name="y">Its labels.</param>
    /// <param name="inputShape">The batch's input shape.</param>
    /// <param name="profilePrefix">When set, ORT profiles the runs into files with this prefix (written on dispose).</param>
    /// <exception cref="NotSupportedException">The training graph has an input the manifest does not describe (names it).</exception>
    public ConstantWeightsStep(StepRunner runner, Array x, long[] y, long[] inputShape, string? profilePrefix = null)
    {
        var m = runner.Manifest;
        var model = OnnxModel.Load(Path.Combine(runner.ArtifactDir, m.TrainingModel));
        var state = runner.GetState().ToDictionary(t => t.Name, StringComparer.Ordinal);
        var specs = m.State.ToDictionary(s => s.Input, StringComparer.Ordinal);
        int n = (int)inputShape[0];
        var feeds = new List<(string Name, OrtValue Value)>();
        foreach (var input in model.Graph.Input.ToList())
        {
            var name = input.Name;
            if (specs.TryGetValue(name, out var spec))
            {
                var t = state[spec.Name];
                if (spec.Kind == StateKind.Parameter)
                {
                    model.Graph.Initializer.Add(Tensors.Float(name, t.Shape, t.Data));
                    model.Graph.Input.Remove(input);
                }
                else feeds.Add((name, t.ToOrtValue()));
            }
            else if (m.Controls.Find(c => c.Name == name) is { } control)
                feeds.Add((name, OrtValue.CreateTensorValueFromMemory(runner.GetControl(name), control.Shape)));
            else if (m.DropoutMasks.Find(d => d.Name == name) is { } mask)
            {
                var shape = mask.ShapeFor(n);
                feeds.Add((name, OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(true, (int)Tensors.ElementCount(shape)).ToArray(), shape)));
            }
            else if (name == m.InputName)
                feeds.Add((name, BenchModel.InputValue(x, inputShape)));
            else if (name == m.LabelName)
                feeds.Add((name, OrtValue.CreateTensorValueFromMemory(y, [n])));
            else throw new NotSupportedException($"--constant-weights: training graph input '{name}' is neither state, control, dropout mask, samples nor labels in the manifest");
        }
        _options = SessionOptionsFactory.Create(runner.Device);
        if (profilePrefix is not null)
        {
            _options.ProfileOutputPathPrefix = profilePrefix; // before EnableProfiling: ORT takes the prefix then
            _options.EnableProfiling = true;
        }
        _session = new InferenceSession(OnnxModel.ToBytes(model), _options);
        _binding = _session.CreateIoBinding();
        foreach (var (name, value) in feeds)
        {
            _values.Add(value);
            _binding.BindInput(name, value);
        }
        // Outputs stay where ORT puts them; the allocation per run is small against a step.
        foreach (var output in _session.OutputNames) _binding.BindOutputToDevice(output, OrtMemoryInfo.DefaultInstance);
    }

    /// <summary>One run of the constant-weight step (host device only: the bench passes CPU runners).</summary>
    public void Run() => _session.RunWithBinding(_run, _binding);

    /// <summary>One run, then the float outputs named <paramref name="names"/> (e.g. the loss, a parameter's next value), copied.</summary>
    public float[][] RunAndRead(params string[] names)
    {
        Run();
        using var values = _binding.GetOutputValues();
        var outputs = _session.OutputNames.ToList();
        return names.Select(name =>
        {
            int i = outputs.IndexOf(name);
            if (i < 0) throw new ArgumentException($"the training graph has no output '{name}'", nameof(names));
            return values[i].GetTensorDataAsSpan<float>().ToArray();
        }).ToArray();
    }

    public void Dispose()
    {
        _binding.Dispose();
        foreach (var v in _values) v.Dispose();
        _run.Dispose(); _session.Dispose(); _options.Dispose();
    }
}
