using System.Diagnostics;
using Acwa.Onnx.Autodiff;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.Graphs.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Acwa.Onnx.Benchmarks;

/// <summary>One convolution of the small CNN or ResNet-20 at a batch size.</summary>
public sealed record ConvShape(string Name, long N, long Cin, long H, long W, long Cout, long K, long Stride, long Pad)
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
    ];

    public static readonly (string Label, string Wrt, GradientOptions? Options)[] Pieces =
    [
        ("forward conv (reference)", "", null),
        ("dX FlippedConv", "x", new GradientOptions { ConvInputGrad = ConvInputGradMethod.FlippedConv }),
        ("dX ConvTranspose", "x", new GradientOptions { ConvInputGrad = ConvInputGradMethod.ConvTranspose }),
        ("dW TapsGemm", "w", new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.TapsGemm }),
        ("dW PerTapGemm", "w", new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.PerTapGemm }),
        ("dW SlicedPatchesMatMul", "w", new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.SlicedPatchesMatMul }),
        ("dW ConvOverTransposed", "w", new GradientOptions { ConvWeightGrad = ConvWeightGradMethod.ConvOverTransposed }),
    ];

    /// <summary>Builds the graph for one piece: inputs x, w, dy; one output.</summary>
    public static ModelProto Build(ConvShape s, string wrt, GradientOptions? options)
    {
        var b = new GraphBuilder("conv");
        b.Input("x", ElementType.Float, null, s.Cin, s.H, s.W);
        b.Input("w", ElementType.Float, s.Cout, s.Cin, s.K, s.K);
        var y = b.Op("Conv", ["x", "w"], Attr.Ints("pads", s.Pad, s.Pad, s.Pad, s.Pad), Attr.Ints("strides", s.Stride, s.Stride));
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

    /// <summary>Median and spread (min, max) in ms of <paramref name="reps"/> runs after 3 warm-ups.</summary>
    public static (double Median, double Min, double Max) Time(ModelProto model, ConvShape s, bool cuda, int reps)
    {
        using var so = new SessionOptions();
        if (cuda)
        {
            so.AppendExecutionProvider_CUDA(0);
            so.AddSessionConfigEntry("session.disable_cpu_ep_fallback", "1");
        }
        using var session = new InferenceSession(OnnxModel.ToBytes(model), so);
        using var cudaMem = cuda ? new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, 0, OrtMemType.Default) : null;
        var mem = cudaMem ?? OrtMemoryInfo.DefaultInstance; // the default instance must not be disposed
        using var binding = session.CreateIoBinding();
        var values = new List<OrtValue>();
        var rng = new Random(1);
        foreach (var (name, meta) in session.InputMetadata)
        {
            var dims = meta.Dimensions.Select(d => d < 0 ? s.N : (long)d).ToArray();
            if (!cuda)
            {
                var data = new float[Tensors.ElementCount(dims)];
                for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() - 0.5);
                var host = OrtValue.CreateTensorValueFromMemory(data, dims);
                values.Add(host);
                binding.BindInput(name, host);
                continue;
            }
            // Device-resident input (contents uninitialised: the timing does not depend on the values).
            using var alloc = new OrtAllocator(session, mem);
            var dev = OrtValue.CreateAllocatedTensorValue(alloc, TensorElementType.Float, dims);
            values.Add(dev);
            binding.BindInput(name, dev);
        }
        foreach (var o in session.OutputMetadata.Keys) binding.BindOutputToDevice(o, mem);
        using var ro = new RunOptions();
        for (int i = 0; i < 3; i++) session.RunWithBinding(ro, binding);
        var t = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            session.RunWithBinding(ro, binding);
            if (cuda) binding.SynchronizeBoundOutputs();
            t[i] = sw.Elapsed.TotalMilliseconds;
        }
        foreach (var v in values) v.Dispose();
        Array.Sort(t);
        return (t[reps / 2], t[0], t[^1]);
    }
}
