namespace Acwa.DevBench;

/// <summary>cudaProfilerStart/Stop of the CUDA runtime that ORT's CUDA provider loaded: marks a region for <c>ncu --profile-from-start off</c>.</summary>
internal static partial class CudaProfiler
{
    [System.Runtime.InteropServices.LibraryImport("libcudart.so.13")]
    private static partial int cudaProfilerStart();

    [System.Runtime.InteropServices.LibraryImport("libcudart.so.13")]
    private static partial int cudaProfilerStop();

    [System.Runtime.InteropServices.LibraryImport("libcudart.so.13")]
    private static partial int cudaDeviceSynchronize();

    /// <summary>Runs <paramref name="work"/> inside a profiler range, the device synchronised on both sides.</summary>
    public static void Range(Action work)
    {
        Check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        Check(cudaProfilerStart(), "cudaProfilerStart");
        work();
        Check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        Check(cudaProfilerStop(), "cudaProfilerStop");
    }

    private static void Check(int status, string call)
    {
        if (status != 0) throw new InvalidOperationException($"{call} returned CUDA error {status}");
    }
}
