using Acwa.Onnx.Training.Runtime;

namespace Acwa.Onnx.Tests.Training.Runtime;

/// <summary>
/// GPU path. With CUDA usable these run on cuda:0 with CPU fallback disabled and must match the CPU (they never fall back
/// silently: a broken path fails). Without CUDA, the no-CUDA test checks the explanation instead.
/// </summary>
public class CudaRunnerTests
{
    private const int D = 6, C = 3;

    [CudaFact]
    public void CudaStepsMatchCpuStepsAndStateStaysOnDevice()
    {
        var dir = TestArtifacts.Create(D, C);
        using var gpu = new StepRunner(dir, new StepRunnerOptions { Device = Device.Cuda(0) });
        using var cpu = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        Assert.Equal(Device.Cuda(0), gpu.Device);
        var rng = new Random(4);
        var gs = StepBothAndCompare(gpu, cpu, rng, [8, 8, 3, 8, 1], "gpu");
        var (ex, _) = TestArtifacts.Batch(rng, 4, D, C);
        var ge = gpu.Evaluate(ex, 4).Logits.ToArray();
        var ce = cpu.Evaluate(ex, 4).Logits.ToArray();
        for (int i = 0; i < ge.Length; i++) Assert.Equal(ce[i], ge[i], 4);
        var ckpt = Path.Combine(dir, "gpu.acwa");
        gpu.SaveCheckpoint(ckpt);
        using var resumed = new StepRunner(dir, new StepRunnerOptions { Device = Device.Cuda(0), CheckpointPath = ckpt });
        Assert.Equal(gs[0].Data, resumed.GetState()[0].Data);
    }

    [CudaFact]
    public void CudaGraphStepsMatchCpuStepsIncludingAnUncapturedSmallerBatch()
    {
        var dir = TestArtifacts.Create(D, C);
        using var graph = new StepRunner(dir, new StepRunnerOptions { Device = Device.Cuda(0), CudaGraph = true, CudaTf32 = false });
        using var cpu = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
        // Batch 8 is captured (two graphs, one per ping-pong direction, replayed from the third run of each); 3 and 1 run uncaptured.
        StepBothAndCompare(graph, cpu, new Random(4), [8, 8, 8, 8, 3, 8, 8, 1, 8, 8], "cuda graph");
    }

    [CudaTheory]
    [InlineData("tiny_vit")]       // LayerNorm, attention, Erf GELU; chunk bounds and the class-token expand folded for CUDA
    [InlineData("tiny_mobilenet")] // depthwise conv, HardSwish, squeeze-excite, PRelu, ReduceMax
    [InlineData("tiny_lstm")]      // unrolled LSTM: its gradient's zeros must not come from Shape (ORT's transpose optimizer
                                   // turns Shape(Transpose(v)) into a host Gather; seen on an H200, 2026-12-04)
    [InlineData("tiny_gru")]       // unrolled GRU (linear_before_reset 1)
    [InlineData("tiny_rnn")]       // ReLU RNN: cuDNN takes only tanh, so the CUDA eval graph unrolls it too
    [InlineData("tiny_conv1d")]    // Conv1d lowered to 2-D
    [InlineData("tiny_text")]      // int64 token ids, embedding, transformer encoder with a key padding mask
    public void ImportedModelsCompiledForCudaTrainOnTheGpuLikeOnTheCpu(string fixture)
    {
        var forward = Acwa.Onnx.Graphs.Import.OpsetUpgrade.ToOpset18(Acwa.Onnx.Graphs.OnnxModel.Load(Models.ModelTestUtil.Fixture($"{fixture}.onnx")));
        var dir = Directory.CreateTempSubdirectory("acwa-cuda-import-").FullName;
        try
        {
            Acwa.Onnx.Training.Compiler.TrainingArtifacts.Generate(forward, new Acwa.Onnx.Training.Compiler.ArtifactOptions { Device = Device.Cuda() }, dir);
            var xs = Models.Npy.Read(Models.ModelTestUtil.Fixture($"{fixture}/x.npy"));
            var y = Models.Npy.Read(Models.ModelTestUtil.Fixture($"{fixture}/y.npy")).Int64s();
            using var gpu = new StepRunner(dir, new StepRunnerOptions { Device = Device.Cuda(0), CudaTf32 = false });
            using var cpu = new StepRunner(dir, new StepRunnerOptions { IntraOpThreads = 1 });
            bool ids = xs.Dtype == "<i8";
            for (int step = 0; step < 3; step++)
            {
                float a = ids ? gpu.TrainStep(xs.Int64s(), y, y.Length).Loss : gpu.TrainStep(xs.Floats(), y, y.Length).Loss;
                float b = ids ? cpu.TrainStep(xs.Int64s(), y, y.Length).Loss : cpu.TrainStep(xs.Floats(), y, y.Length).Loss;
                Assert.True(Math.Abs(a - b) <= 1e-4 * Math.Abs(b), $"{fixture} step {step}: loss on the GPU {a}, on the CPU {b}");
            }
            var ge = (ids ? gpu.Evaluate(xs.Int64s(), y.Length) : gpu.Evaluate(xs.Floats(), y.Length)).Logits.ToArray();
            var ce = (ids ? cpu.Evaluate(xs.Int64s(), y.Length) : cpu.Evaluate(xs.Floats(), y.Length)).Logits.ToArray();
            Assert.True(Models.ModelTestUtil.MaxScaledError(ge, ce) <= 1e-4, $"{fixture}: eval logits on the GPU differ from the CPU's");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [CudaFact]
    public void CudaGraphCapturesAResNetWhoseFusedUpdateHasMoreTensorsThanOneCudaConcatTakes()
    {
        // ResNet-20's 65 parameter tensors: the fused update's Concat and Split are narrowed to 32 (WideNodeSplitting); wider
        // ones fail the capture ("CUDA Concat supports at most 32 inputs during CUDA Graph capture").
        var dir = Directory.CreateTempSubdirectory("acwa-cuda-graph-resnet-").FullName;
        try
        {
            Acwa.Onnx.Training.Compiler.TrainingArtifacts.Generate(Acwa.Onnx.Models.ResNetCifar.Build(20, seed: 2),
                new Acwa.Onnx.Training.Compiler.ArtifactOptions { Device = Device.Cuda() }, dir);
            using var graph = new StepRunner(dir, new StepRunnerOptions { Device = Device.Cuda(0), CudaGraph = true, CudaTf32 = false });
            using var cpu = new StepRunner(dir, new StepRunnerOptions());
            var rng = new Random(6);
            for (int step = 0; step < 6; step++) // captured at each direction's second run, replayed after
            {
                var x = Enumerable.Range(0, 8 * 3 * 32 * 32).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
                var y = Enumerable.Range(0, 8).Select(_ => (long)rng.Next(10)).ToArray();
                float a = graph.TrainStep(x, y, 8).Loss, b = cpu.TrainStep(x, y, 8).Loss;
                Assert.True(Math.Abs(a - b) <= 1e-3 * Math.Abs(b), $"step {step}: loss with the CUDA graph {a}, on the CPU {b}");
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [CudaFact]
    public void EvaluatingAnExportWithHostShapeArithmeticOnCudaNeedsCpuFallbackAndSaysSo()
    {
        var path = Models.ModelTestUtil.Fixture("tiny_vit.onnx"); // torch export: Shape -> Gather -> Concat -> Reshape
        var e = Assert.Throws<DeviceUnavailableException>(() => Acwa.Onnx.Evaluation.Evaluator.Load(path, new Acwa.Onnx.Evaluation.EvaluatorOptions { Device = Device.Cuda(0) }));
        Assert.Contains("AllowCpuFallback", e.Message);
        using var gpu = Acwa.Onnx.Evaluation.Evaluator.Load(path, new Acwa.Onnx.Evaluation.EvaluatorOptions { Device = Device.Cuda(0), AllowCpuFallback = true });
        using var cpu = Acwa.Onnx.Evaluation.Evaluator.Load(path);
        var x = Models.Npy.Read(Models.ModelTestUtil.Fixture("tiny_vit/x.npy")).Floats();
        var labels = Models.Npy.Read(Models.ModelTestUtil.Fixture("tiny_vit/y.npy")).Int64s().Select(v => (int)v).ToArray();
        var a = gpu.Evaluate(x, labels, 2, 8, 8);
        var b = cpu.Evaluate(x, labels, 2, 8, 8);
        Assert.Equal(b.Matrix.Counts.ToArray(), a.Matrix.Counts.ToArray());
        Assert.Equal(labels.Length, a.Images);
    }

    /// <summary>
    /// Trains both runners on the same batches of the given sizes: losses within 1e-4 and equal predictions at every step,
    /// then every state element within 1e-4. Returns the CUDA runner's final state.
    /// </summary>
    private static List<HostTensor> StepBothAndCompare(StepRunner cuda, StepRunner cpu, Random rng, int[] sizes, string what)
    {
        foreach (var n in sizes)
        {
            var (x, y) = TestArtifacts.Batch(rng, n, D, C);
            var a = cuda.TrainStep(x, y, n);
            var aLoss = a.Loss; var aPred = a.Predictions.ToArray();
            var b = cpu.TrainStep(x, y, n);
            Assert.Equal(b.Loss, aLoss, 4);
            Assert.Equal(b.Predictions.ToArray(), aPred);
        }
        var gs = cuda.GetState(); var cs = cpu.GetState();
        for (int i = 0; i < gs.Count; i++)
            for (int j = 0; j < gs[i].Data!.Length; j++)
                Assert.True(Math.Abs(gs[i].Data![j] - cs[i].Data![j]) < 1e-4, $"{gs[i].Name}[{j}]: {what} {gs[i].Data![j]} cpu {cs[i].Data![j]}");
        return gs;
    }

    [NoCudaFact]
    public void CudaWithoutGpuExplainsWhatIsMissing()
    {
        var dir = TestArtifacts.Create(D, C);
        var e = Assert.Throws<DeviceUnavailableException>(() => new StepRunner(dir, new StepRunnerOptions { Device = Device.Parse("cuda:0") }));
        Assert.Contains("device 'cuda:0' is not usable", e.Message);
        Assert.Contains("ONNX Runtime said", e.Message);
        // The default build carries ONNX Runtime's CPU natives (no CUDA provider); -p:AcwaUseGpuNatives=true the GPU natives.
        if (!Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider"))
            Assert.Contains("this ONNX Runtime build has no CUDA execution provider", e.Message);
        else if (!System.Runtime.InteropServices.NativeLibrary.TryLoad("libcudnn.so.9", out _)) Assert.Contains("libcudnn.so.9", e.Message);
        Assert.Equal(Device.Cuda(0), e.Device);
    }
}
