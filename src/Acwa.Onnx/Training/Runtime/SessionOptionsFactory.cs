using Microsoft.ML.OnnxRuntime;

namespace Acwa.Onnx.Training.Runtime;

/// <summary>
/// Builds ONNX Runtime <see cref="SessionOptions"/> for a <see cref="Device"/>: the CPU provider with a chosen number of
/// intra-op threads, or the CUDA provider on one GPU with CPU fallback disabled (so that a node the GPU cannot run fails
/// the session instead of silently running on the host).
/// </summary>
public static class SessionOptionsFactory
{
    /// <summary>Session config key that makes session creation fail when a node would fall back to the CPU provider.</summary>
    public const string DisableCpuFallbackKey = "session.disable_cpu_ep_fallback";

    /// <summary>
    /// Creates session options for <paramref name="device"/>. <paramref name="intraOpThreads"/>: threads of the CPU
    /// provider's intra-op pool, 1 or more; null means one per logical core (<see cref="Environment.ProcessorCount"/>) on the
    /// CPU and 1 on CUDA (there the pool only runs tiny host-side work, and its spinning threads slow the step: see
    /// docs/runtime.md, "GPU"). <paramref name="allowCpuFallback"/>: on CUDA,
    /// let ONNX Runtime place nodes on the CPU provider (it does so on purpose for small int64 shape computations, and for
    /// ops without a CUDA kernel); false (default) sets <see cref="DisableCpuFallbackKey"/> so that any such node fails the
    /// session. <paramref name="cudaTf32"/>: on CUDA, let fp32 convolutions and matrix products use TF32 tensor cores
    /// (ONNX Runtime's default on Ampere and newer, true here too); false sets the provider option <c>use_tf32=0</c> for
    /// full fp32 arithmetic (parity checks against the CPU). <paramref name="cudaGraph"/>: on CUDA, the provider option
    /// <c>enable_cuda_graph=1</c> (see <see cref="StepRunnerOptions.CudaGraph"/>); an error on the CPU. Throws <see cref="DeviceUnavailableException"/> when the
    /// CUDA provider cannot be loaded. The caller owns (disposes) the result.
    /// </summary>
    public static SessionOptions Create(Device device, int? intraOpThreads = null, bool allowCpuFallback = false, bool cudaTf32 = true, bool cudaGraph = false)
    {
        if (cudaGraph && !device.IsCuda) throw new ArgumentException($"CUDA graphs need a CUDA device, not '{device}'", nameof(cudaGraph));
        if (intraOpThreads is < 1) throw new ArgumentOutOfRangeException(nameof(intraOpThreads), intraOpThreads, "intra-op threads must be 1 or more (null: one per core)");
        var options = new SessionOptions
        {
            IntraOpNumThreads = intraOpThreads ?? (device.IsCuda ? 1 : Environment.ProcessorCount),
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        try
        {
            if (LogLevelFromEnvironment() is { } level)
            {
                options.LogSeverityLevel = level;
                OrtEnv.Instance().EnvLogLevel = level; // the partitioner logs node placements through the default logger
            }
            if (device.IsCuda)
            {
                if (!allowCpuFallback) options.AddSessionConfigEntry(DisableCpuFallbackKey, "1");
                // ONNX Runtime logs a failed provider load itself (a red "Failed to load library ..." line on stderr) before
                // throwing; the exception becomes our message, so its own line is kept quiet unless ACWA_ORT_LOG_LEVEL asks.
                using var quiet = LogLevelFromEnvironment() is null ? QuietEnvLog() : null;
                try
                {
                    if (cudaTf32 && !cudaGraph) options.AppendExecutionProvider_CUDA(device.Index);
                    else
                    {
                        using var cuda = new OrtCUDAProviderOptions();
                        var settings = new Dictionary<string, string> { ["device_id"] = device.Index.ToString(System.Globalization.CultureInfo.InvariantCulture) };
                        if (!cudaTf32) settings["use_tf32"] = "0";
                        if (cudaGraph) settings["enable_cuda_graph"] = "1";
                        cuda.UpdateOptions(settings);
                        options.AppendExecutionProvider_CUDA(cuda);
                    }
                }
                catch (OnnxRuntimeException e) { throw Explain(device, e, "loading ONNX Runtime's CUDA execution provider"); }
                catch (EntryPointNotFoundException e) { throw Explain(device, e, "loading ONNX Runtime's CUDA execution provider"); }
            }
            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    private static readonly Lock EnvLogLock = new();

    /// <summary>Sets ONNX Runtime's default logger to fatal-only until disposed, then back to the level it had.</summary>
    private static IDisposable QuietEnvLog()
    {
        EnvLogLock.Enter();
        try
        {
            var env = OrtEnv.Instance();
            var before = env.EnvLogLevel;
            env.EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
            return new Restore(before);
        }
        catch
        {
            EnvLogLock.Exit();
            throw;
        }
    }

    private sealed class Restore(OrtLoggingLevel level) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            try { OrtEnv.Instance().EnvLogLevel = level; }
            finally { EnvLogLock.Exit(); }
        }
    }

    /// <summary>Environment variable that sets ONNX Runtime's log level for the sessions made here: verbose, info, warning, error or fatal.</summary>
    public const string LogLevelVariable = "ACWA_ORT_LOG_LEVEL";

    /// <summary>
    /// The level named by <see cref="LogLevelVariable"/>, or null when it is unset or empty (ONNX Runtime's default,
    /// warnings). At verbose, ONNX Runtime prints which provider each node is assigned to, and why a node went to the CPU.
    /// </summary>
    /// <exception cref="ArgumentException">The variable names no level; the message lists the valid ones.</exception>
    public static OrtLoggingLevel? LogLevelFromEnvironment() => ParseLogLevel(Environment.GetEnvironmentVariable(LogLevelVariable));

    /// <summary><see cref="LogLevelFromEnvironment"/> for a given value of the variable (null or blank: null).</summary>
    /// <exception cref="ArgumentException">The value names no level; the message names the variable and lists the valid ones.</exception>
    public static OrtLoggingLevel? ParseLogLevel(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        return value.Trim().ToLowerInvariant() switch
        {
            "verbose" => OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE,
            "info" => OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO,
            "warning" => OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
            "error" => OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
            "fatal" => OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL,
            _ => throw new ArgumentException($"environment variable {LogLevelVariable}='{value}' names no ONNX Runtime log level (verbose, info, warning, error, fatal)"),
        };
    }

    /// <summary>Turns an ONNX Runtime failure on a CUDA device into a message that says what is missing.</summary>
    internal static DeviceUnavailableException Explain(Device device, Exception e, string stage)
    {
        var m = e.Message;
        string cause;
        if (!HasCudaProvider())
            cause = "this ONNX Runtime build has no CUDA execution provider (deploy the Microsoft.ML.OnnxRuntime.Gpu native package; this repository's builds: -p:AcwaUseGpuNatives=true, docs/gpu.md)";
        else if (m.Contains("Failed to load", StringComparison.OrdinalIgnoreCase) && MissingCudaLibraries() is { Count: > 0 } missing)
            cause = DescribeMissing(missing);
        else if (m.Contains("libcudnn", StringComparison.OrdinalIgnoreCase))
            cause = "cuDNN 9 (libcudnn.so.9) was not found on the library path (LD_LIBRARY_PATH)";
        else if (m.Contains("libcudart", StringComparison.OrdinalIgnoreCase) || m.Contains("libcublas", StringComparison.OrdinalIgnoreCase)
                 || m.Contains("libcurand", StringComparison.OrdinalIgnoreCase) || m.Contains("libcufft", StringComparison.OrdinalIgnoreCase))
            cause = "the CUDA runtime libraries (libcudart / libcublas / libcublasLt) were not found on the library path (LD_LIBRARY_PATH)";
        else if (m.Contains("libonnxruntime_providers_cuda", StringComparison.OrdinalIgnoreCase) || m.Contains("providers_shared", StringComparison.OrdinalIgnoreCase))
            cause = "ONNX Runtime's CUDA provider library (libonnxruntime_providers_cuda.so) or one of its dependencies (CUDA runtime, cuBLAS, cuDNN) could not be loaded; is the Microsoft.ML.OnnxRuntime.Gpu native package deployed?";
        else if (m.Contains("no CUDA-capable device", StringComparison.OrdinalIgnoreCase) || m.Contains("cudaErrorNoDevice", StringComparison.OrdinalIgnoreCase)
                 || m.Contains("CUDA failure 100", StringComparison.OrdinalIgnoreCase) || m.Contains("invalid device ordinal", StringComparison.OrdinalIgnoreCase)
                 || m.Contains("CUDA failure 101", StringComparison.OrdinalIgnoreCase))
            cause = $"no usable GPU with ordinal {device.Index} was found (no NVIDIA driver, no device, or the ordinal is out of range)";
        else if (m.Contains("CUDA driver", StringComparison.OrdinalIgnoreCase) || m.Contains("CUDA failure 35", StringComparison.OrdinalIgnoreCase))
            cause = "the NVIDIA driver is missing or older than the CUDA runtime needs";
        else if (m.Contains("not in the list of available", StringComparison.OrdinalIgnoreCase) || e is EntryPointNotFoundException)
            cause = "this ONNX Runtime build has no CUDA execution provider (use the Microsoft.ML.OnnxRuntime.Gpu native package)";
        else if (m.Contains("fallback", StringComparison.OrdinalIgnoreCase) || m.Contains("assigned to the CPU", StringComparison.OrdinalIgnoreCase))
            cause = "ONNX Runtime assigned some nodes to the CPU provider (no CUDA kernel, or small int64 shape computations it keeps on the host) and CPU fallback is disabled (session.disable_cpu_ep_fallback=1); allow it with AllowCpuFallback (StepRunnerOptions, EvaluatorOptions; acwa eval --allow-cpu-fallback), or set ACWA_ORT_LOG_LEVEL=verbose to see which nodes ONNX Runtime placed on the CPU and why";
        else
            cause = "the CUDA provider failed";
        return new DeviceUnavailableException(device, $"device '{device}' is not usable: {cause} (while {stage}). ONNX Runtime said: {m}", e);
    }

    /// <summary>Whether the loaded ONNX Runtime lists the CUDA execution provider (the GPU native package); true when it cannot tell.</summary>
    private static bool HasCudaProvider()
    {
        try { return OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider", StringComparer.Ordinal); }
        catch (OnnxRuntimeException) { return true; }
    }

    /// <summary>Shared libraries ONNX Runtime 1.31's CUDA provider loads (CUDA 13, cuDNN 9), with what each one is.</summary>
    private static readonly (string File, string What)[] CudaLibraries =
    [
        ("libcuda.so.1", "the NVIDIA driver (libcuda; absent means no NVIDIA driver/GPU on this machine)"),
        ("libcudart.so.13", "the CUDA 13 runtime (libcudart)"),
        ("libcublas.so.13", "cuBLAS (libcublas)"),
        ("libcublasLt.so.13", "cuBLASLt (libcublasLt)"),
        ("libcurand.so.10", "cuRAND (libcurand)"),
        ("libcudnn.so.9", "cuDNN 9 (libcudnn)"),
    ];

    /// <summary>The CUDA libraries the dynamic loader cannot find, as descriptions.</summary>
    internal static List<string> MissingCudaLibraries()
    {
        var missing = new List<string>();
        foreach (var (file, what) in CudaLibraries)
        {
            if (System.Runtime.InteropServices.NativeLibrary.TryLoad(file, out var h)) System.Runtime.InteropServices.NativeLibrary.Free(h);
            else missing.Add($"{what}: {file}");
        }
        return missing;
    }

    private static string DescribeMissing(List<string> missing) =>
        $"ONNX Runtime's CUDA provider could not be loaded because these libraries are not on the library path (LD_LIBRARY_PATH / ldconfig): {string.Join("; ", missing)}";
}
