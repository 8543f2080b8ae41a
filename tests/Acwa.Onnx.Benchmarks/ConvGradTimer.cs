using System.Diagnostics;
using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Benchmarks;

/// <summary>One convolution of the small CNN or ResNet-20 at a batch size.</summary>
public sealed record ConvShape(string Name, long N, long Cin, long H, long W, long Cout, long K, long Stride, long Pad, long Group = 1)
{
    public override string ToString() => Name;
}

/// <summary>
/// Times each gradient decomposition of a Conv through ORT: a graph holding only the gradient piece (dX or dW of
/// one conv, built by ReverseMode with the chosen method), inputs and outputs bound once (IOBinding) on the device,
/// median of repeated runs. Reference: the forward conv alone.
/// </summary>
public static class ConvGradTimer
{
    public static readonly ConvShape[] Shapes =
    [
        new("cnn conv1 1->32 28x28", 128, 1, 28, 28, 32, 3, 1, 1),
        new("cnn conv2 32->64 14x14", 128, 32, 14, 14, 64, 3, 1, 1),
        new("resnet 16->16 32x32", 128, 16, 32, 32, 16, 3, 1, 1),
        new("resnet 16->32 s2 32x32", 128, 16, 32, 32, 32, 3, 2, 1),
        new("resnet 32->32 16x16", 128, 32, 16, 16, 32, 3, 1, 1),
        new("resnet 32->64 s2 16x16", 128, 32, 16, 16, 64, 3, 2, 1),
        new("resnet 64->64 8x8", 128, 64, 8, 8, 64, 3, 1, 1),
        // MobileNetV2-style depthwise 3x3 convolutions (batch 64) and a pointwise one.
        new("dw 96 32x32 s2", 64, 96, 32, 32, 96, 3, 2, 1, 96),
        new("dw 144 16x16", 64, 144, 16, 16, 144, 3, 1, 1, 144),
        new("dw 192 8x8", 64, 192, 8, 8, 192, 3, 1, 1, 192),
        new("pw 32->192 8x8", 64, 32, 8, 8, 192, 1, 1, 0),
        // MobileNetV3-Small's 5x5 depthwise convolutions at the small spatial sizes of its last stages (batch 64).
        new("dw5 576 2x2", 64, 576, 2, 2, 576, 5, 1, 2, 576),
        new("dw5 240 4x4", 64, 240, 4, 4, 240, 5, 1, 2, 240),
        new("dw5 96 8x8 s2", 64, 96, 8, 8, 96, 5, 2, 2, 96),
        // MobileNetV3-Small's pointwise convolutions on its last maps.
        new("pw 576->96 2x2", 64, 576, 2, 2, 96, 1, 1, 0),
        new("pw 96->576 2x2", 64, 96, 2, 2, 576, 1, 1, 0),
        new("pw 240->40 4x4", 64, 240, 4, 4, 40, 1, 1, 0),
        new("pw 40->240 4x4", 64, 40, 4, 4, 240, 1, 1, 0),
        new("pw 288->96 4x4", 64, 288, 4, 4, 96, 1, 1, 0),
        new("pw 144->48 2x2", 64, 144, 2, 2, 48, 1, 1, 0),
        new("se 576->144 1x1", 64, 576, 1, 1, 144, 1, 1, 0),
    ];

    public static readonly (string Label, string Wrt, GradientOptions? Options)[] Pieces =
    [
        ("forward conv (reference)", "", null),
        ("dX FlippedConv", "x", new GradientOptions { ConvInputGrad = ConvInputGradMethod.FlippedConv }),
        ("dX ConvTranspose", "x", new GradientOptions { ConvInputGrad = ConvInputGradMethod.ConvTranspose }),
        ("dX DepthwiseDense", "x", new GradientOptions { ConvInputGrad = ConvInputGradMethod.DepthwiseDense }),
        ("dW TapsGemm", "w", new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.TapsGemm }),
        ("dW PerTapGemm", "w", new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.PerTapGemm }),
        ("dW SlicedPatchesMatMul", "w", new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.SlicedPatchesMatMul }),
        ("dW Im2ColConvMatMul", "w", new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.Im2ColConvMatMul }),
        ("dW DepthwiseDense", "w", new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.DepthwiseDense }),
        ("dW ConvOverTransposed", "w", new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.ConvOverTransposed }),
    ];

    /// <summary>Builds the graph for one piece: inputs x, w, dy; one output.</summary>
    public static ModelProto Build(ConvShape s, string wrt, GradientOptions? options)
    {
        var b = new GraphBuilder("conv");
        b.Input("x", ElementType.Float, null, s.Cin, s.H, s.W);
        b.Input("w", ElementType.Float, s.Cout, s.Cin / s.Group, s.K, s.K);
        var y = b.Op("Conv", ["x", "w"], Attr.Ints("pads", s.Pad, s.Pad, s.Pad, s.Pad), Attr.Ints("strides", s.Stride, s.Stride), Attr.Int("group", s.Group));
        b.Graph.Output.Add(new ValueInfoProto { Name = y, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)ElementType.Float } } });
        var model = OnnxModel.Create(b.Graph);
        if (wrt.Length == 0) return model;
        var shapes = ShapeProbe.Infer(model, "x", [-1, s.Cin, s.H, s.W]);
        var yd = shapes[y];
        b.Input("dy", ElementType.Float, yd.Select(d => d < 0 ? (long?)null : d).ToArray());
        var grads = ReverseMode.Differentiate(b, new Dictionary<string, string> { [y] = "dy" }, [wrt], shapes, options);
        b.Graph.Output.Clear();
        b.OpNamed("Identity", [grads[wrt]], "grad");
        b.Graph.Output.Add(new ValueInfoProto { Name = "grad", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)ElementType.Float } } });
        Prune(b.Graph);
        return model;
    }

    /// <summary>Removes nodes whose outputs nobody reads (the forward conv when only a gradient is wanted).</summary>
    private static void Prune(GraphProto g)
    {
        bool changed = true;
        while (changed)
        {
            var used = new HashSet<string>(g.Output.Select(o => o.Name));
            foreach (var n in g.Node) foreach (var i in n.Input) used.Add(i);
            changed = false;
            for (int i = g.Node.Count - 1; i >= 0; i--)
                if (!g.Node[i].Output.Any(used.Contains)) { g.Node.RemoveAt(i); changed = true; }
        }
        var read = new HashSet<string>(g.Node.SelectMany(n => n.Input));
        for (int i = g.Input.Count - 1; i >= 0; i--) if (!read.Contains(g.Input[i].Name)) g.Input.RemoveAt(i);
    }

    /// <summary>A session with its inputs and outputs bound once (device-resident on CUDA).</summary>
    private sealed class BoundSession : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly OrtIoBinding _binding;
        private readonly OrtMemoryInfo? _cudaMem;
        private readonly List<OrtValue> _values = [];
        private readonly RunOptions _ro = new();
        private readonly bool _cuda;

        public BoundSession(ModelProto model, ConvShape s, bool cuda, int threads)
        {
            _cuda = cuda;
            using var so = new SessionOptions();
            if (threads > 0) so.IntraOpNumThreads = threads;
            // The pieces run interleaved: a session's pool threads must not spin on the cores while another session runs.
            so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            if (cuda)
            {
                so.AppendExecutionProvider_CUDA(0);
                so.AddSessionConfigEntry("session.disable_cpu_ep_fallback", "1");
            }
            _session = new InferenceSession(OnnxModel.ToBytes(model), so);
            _cudaMem = cuda ? new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, 0, OrtMemType.Default) : null;
            var mem = _cudaMem ?? OrtMemoryInfo.DefaultInstance; // the default instance must not be disposed
            _binding = _session.CreateIoBinding();
            var rng = new Random(1);
            foreach (var (name, meta) in _session.InputMetadata)
            {
                var dims = meta.Dimensions.Select(d => d < 0 ? s.N : (long)d).ToArray();
                OrtValue v;
                if (!cuda)
                {
                    var data = new float[Tensors.ElementCount(dims)];
                    for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() - 0.5);
                    v = OrtValue.CreateTensorValueFromMemory(data, dims);
                }
                else
                {
                    // Device-resident input (contents uninitialised: the timing does not depend on the values).
                    using var alloc = new OrtAllocator(_session, mem);
                    v = OrtValue.CreateAllocatedTensorValue(alloc, TensorElementType.Float, dims);
                }
                _values.Add(v);
                _binding.BindInput(name, v);
            }
            foreach (var o in _session.OutputMetadata.Keys) _binding.BindOutputToDevice(o, mem);
        }

        public double RunMs()
        {
            var sw = Stopwatch.StartNew();
            _session.RunWithBinding(_ro, _binding);
            if (_cuda) _binding.SynchronizeBoundOutputs();
            return sw.Elapsed.TotalMilliseconds;
        }

        public void Dispose()
        {
            foreach (var v in _values) v.Dispose();
            _binding.Dispose(); _session.Dispose(); _cudaMem?.Dispose(); _ro.Dispose();
        }
    }

    /// <summary>
    /// Times every piece on one shape in interleaved rounds (each round runs each piece once, so load changes hit all
    /// pieces alike) after 3 warm-up rounds. Per piece: median ms, and the median over rounds of time / forward time.
    /// </summary>
    public static (double MedianMs, double MedianRatio)[] TimeRow(ConvShape s, bool cuda, int reps, int threads)
    {
        var sessions = Pieces.Select(p => new BoundSession(Build(s, p.Wrt, p.Options), s, cuda, threads)).ToArray();
        try
        {
            for (int w = 0; w < 3; w++) foreach (var b in sessions) b.RunMs();
            var t = new double[sessions.Length][];
            for (int i = 0; i < sessions.Length; i++) t[i] = new double[reps];
            for (int r = 0; r < reps; r++)
                for (int i = 0; i < sessions.Length; i++) t[i][r] = sessions[i].RunMs();
            return Enumerable.Range(0, sessions.Length).Select(i =>
            {
                var ratios = Enumerable.Range(0, reps).Select(r => t[i][r] / t[0][r]).Order().ToArray();
                return (t[i].Order().ElementAt(reps / 2), ratios[reps / 2]);
            }).ToArray();
        }
        finally { foreach (var b in sessions) b.Dispose(); }
    }
}
