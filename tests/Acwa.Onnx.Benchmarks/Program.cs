namespace Acwa.Onnx.Benchmarks;

internal static class Program
{
    private static int Main(string[] args)
    {
        // `convgrad [cpu|cuda] [reps]`: quick table of conv gradient decompositions (docs/autodiff.md).
        if (args.Length > 0 && args[0] == "convgrad") return ConvGradReport.Run(args.Skip(1).ToArray());
        // `flush MODEL.onnx [threads] [steps]`: LDAM step of a trained model with and without the tiny-gradient flush.
        if (args.Length > 0 && args[0] == "flush") return FlushReport.Run(args.Skip(1).ToArray());
        // `recurrent [T ...]`: an LSTM layer's forward as ORT's fused kernel, one Scan, and the unrolled graph (docs/training-speed.md).
        if (args.Length > 0 && args[0] == "recurrent") return RecurrentFormsReport.Run(args.Skip(1).ToArray());
        BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
