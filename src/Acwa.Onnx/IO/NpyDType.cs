namespace Acwa.Onnx.IO;

/// <summary>Element types supported by <see cref="NpyFile"/> (little-endian, as numpy writes them on x86/ARM).</summary>
public enum NpyDType
{
    /// <summary><c>&lt;i4</c>: 32-bit signed integer.</summary>
    Int32,
    /// <summary><c>&lt;i8</c>: 64-bit signed integer.</summary>
    Int64,
    /// <summary><c>&lt;f4</c>: 32-bit float.</summary>
    Float32,
    /// <summary><c>&lt;f8</c>: 64-bit float.</summary>
    Float64,
    /// <summary><c>|u1</c>: unsigned byte.</summary>
    UInt8,
    /// <summary><c>|b1</c>: boolean (one byte, 0 or 1).</summary>
    Bool,
}
