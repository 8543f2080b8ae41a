namespace Acwa.Onnx.Training.Runtime;

/// <summary>The kind of execution device a <see cref="Device"/> names.</summary>
public enum DeviceKind
{
    /// <summary>The host CPU (ONNX Runtime's CPU execution provider).</summary>
    Cpu,
    /// <summary>An NVIDIA GPU through ONNX Runtime's CUDA execution provider.</summary>
    Cuda,
}
