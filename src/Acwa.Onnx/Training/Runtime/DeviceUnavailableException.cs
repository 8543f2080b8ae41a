namespace Acwa.Onnx.Training.Runtime;

/// <summary>
/// A requested device cannot be used: ONNX Runtime's CUDA provider or its libraries (CUDA runtime, cuBLAS, cuDNN)
/// could not be loaded, or no usable GPU is present. The message says which, and what ONNX Runtime reported.
/// </summary>
public sealed class DeviceUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DeviceUnavailableException(Device device, string message, Exception? inner = null) : base(message, inner) => Device = device;

    /// <summary>The device that was asked for.</summary>
    public Device Device { get; }
}
