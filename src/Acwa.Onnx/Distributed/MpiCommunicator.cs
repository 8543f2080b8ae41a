using System.Runtime.InteropServices;

namespace Acwa.Onnx.Distributed;

/// <summary>
/// MPI_COMM_WORLD through a small P/Invoke binding of Open MPI's <c>libmpi</c> (docs/distributed.md): init, rank and size,
/// in-place all-reduce (sum) of float, double and int64 buffers, broadcast, abort, finalize. Nothing else.
/// </summary>
/// <remarks>
/// <para>ABI: Open MPI (3.x to 5.x, soname <c>libmpi.so.40</c>), the MPI Debian and Ubuntu ship as <c>openmpi-bin</c>
/// and what most clusters' <c>mpirun</c> is. MPI fixes the C API, not the ABI: in Open MPI a handle (<c>MPI_COMM_WORLD</c>,
/// <c>MPI_FLOAT</c>, <c>MPI_SUM</c>) is the address of a global object (<c>ompi_mpi_comm_world</c>, ...) found with
/// <see cref="NativeLibrary.GetExport"/>; in MPICH and its derivatives it is an integer constant. A library without
/// <c>ompi_mpi_comm_world</c> is refused with a message saying so.</para>
/// <para>Loaded lazily: only <see cref="Initialize"/> opens <c>libmpi</c> (<c>ACWA_MPI_LIBRARY</c> names another file),
/// so nothing about MPI is needed by a run that is not distributed. One instance per process (MPI allows one
/// <c>MPI_Init</c>); <see cref="Dispose"/> calls <c>MPI_Finalize</c>, after which MPI cannot be used again in the process.
/// Collectives are called from one thread at a time (<c>MPI_THREAD_FUNNELED</c>). MPI's default error handler on the
/// world communicator is fatal, so a failed collective ends the job rather than returning.</para>
/// </remarks>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    private const int RtldNow = 2, RtldGlobal = 0x100, ThreadFunneled = 1;
    private static readonly object Gate = new();
    private static MpiCommunicator? _world;

    private readonly nint _comm, _float, _double, _int64, _byte, _sum;
    private readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, int> _allreduce;
    private readonly delegate* unmanaged<void*, int, nint, int, nint, int> _bcast;
    private readonly delegate* unmanaged<nint, int, int> _abort;
    private readonly delegate* unmanaged<int> _finalize;
    private bool _finalized;

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern nint DlOpen(string file, int mode);

    [DllImport("libc", EntryPoint = "dlerror")]
    private static extern nint DlError();

    private MpiCommunicator(nint lib, string path)
    {
        LibraryPath = path;
        nint Sym(string name) => NativeLibrary.TryGetExport(lib, name, out var p) ? p
            : throw new DllNotFoundException($"'{path}' has no symbol '{name}': not the Open MPI library this binding speaks to (docs/distributed.md)");
        if (!NativeLibrary.TryGetExport(lib, "ompi_mpi_comm_world", out _comm))
            throw new DllNotFoundException($"'{path}' is not Open MPI (no 'ompi_mpi_comm_world' symbol; MPICH-style libraries use integer handles). " +
                "Install Open MPI (apt-get install openmpi-bin libopenmpi-dev) or point ACWA_MPI_LIBRARY at its libmpi.so.40");
        _float = Sym("ompi_mpi_float"); _double = Sym("ompi_mpi_double"); _int64 = Sym("ompi_mpi_int64_t"); _byte = Sym("ompi_mpi_byte");
        _sum = Sym("ompi_mpi_op_sum");
        _allreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)Sym("MPI_Allreduce");
        _bcast = (delegate* unmanaged<void*, int, nint, int, nint, int>)Sym("MPI_Bcast");
        _abort = (delegate* unmanaged<nint, int, int>)Sym("MPI_Abort");
        _finalize = (delegate* unmanaged<int>)Sym("MPI_Finalize");
        var initialized = (delegate* unmanaged<int*, int>)Sym("MPI_Initialized");
        var init = (delegate* unmanaged<int*, byte***, int, int*, int>)Sym("MPI_Init_thread");
        var rank = (delegate* unmanaged<nint, int*, int>)Sym("MPI_Comm_rank");
        var size = (delegate* unmanaged<nint, int*, int>)Sym("MPI_Comm_size");
        int flag = 0, provided = 0, r = 0, s = 0;
        Check(initialized(&flag), "MPI_Initialized");
        if (flag == 0) Check(init(null, null, ThreadFunneled, &provided), "MPI_Init_thread");
        Check(rank(_comm, &r), "MPI_Comm_rank");
        Check(size(_comm, &s), "MPI_Comm_size");
        Rank = r; Size = s;
    }

    /// <summary>
    /// Opens <c>libmpi</c> and initialises MPI (once per process; later calls return the same instance until it is
    /// disposed). Rank and size come from the launcher (<c>mpirun</c>, <c>srun</c>); a process started without one is
    /// rank 0 of 1 (an MPI singleton).
    /// </summary>
    /// <exception cref="DllNotFoundException">No Open MPI library could be loaded; the message says what to install.</exception>
    /// <exception cref="InvalidOperationException">MPI was already finalized in this process.</exception>
    public static MpiCommunicator Initialize()
    {
        lock (Gate)
        {
            if (_world is { _finalized: false } w) return w;
            if (_world is not null) throw new InvalidOperationException("MPI was finalized in this process; it cannot be initialised again");
            var tried = new List<string>();
            foreach (var name in Candidates())
            {
                // RTLD_GLOBAL: Open MPI's components (dlopen'ed by libmpi) resolve symbols of libmpi and libopen-pal.
                nint lib = DlOpen(name, RtldNow | RtldGlobal);
                if (lib != 0) return _world = new MpiCommunicator(lib, name);
                tried.Add($"{name}: {Marshal.PtrToStringUTF8(DlError())}");
            }
            throw new DllNotFoundException("--distributed needs Open MPI's libmpi.so.40, which could not be loaded (" + string.Join("; ", tried) +
                "). Install it (apt-get install openmpi-bin libopenmpi-dev) or set ACWA_MPI_LIBRARY to its path");
        }
    }

    private static IEnumerable<string> Candidates()
    {
        if (Environment.GetEnvironmentVariable("ACWA_MPI_LIBRARY") is { Length: > 0 } path) { yield return path; yield break; }
        yield return "libmpi.so.40";
        yield return "libmpi.so";
    }

    /// <summary>The file the binding loaded.</summary>
    public string LibraryPath { get; }

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int Size { get; }

    /// <inheritdoc/>
    public void AllReduceSum(Span<float> values) { fixed (float* p = values) AllReduce(p, values.Length, _float, sizeof(float)); }

    /// <inheritdoc/>
    public void AllReduceSum(Span<double> values) { fixed (double* p = values) AllReduce(p, values.Length, _double, sizeof(double)); }

    /// <inheritdoc/>
    public void AllReduceSum(Span<long> values) { fixed (long* p = values) AllReduce(p, values.Length, _int64, sizeof(long)); }

    /// <inheritdoc/>
    public void Broadcast(Span<float> values, int root = 0) { fixed (float* p = values) Bcast(p, values.Length, _float, sizeof(float), root); }

    /// <inheritdoc/>
    public void Broadcast(Span<double> values, int root = 0) { fixed (double* p = values) Bcast(p, values.Length, _double, sizeof(double), root); }

    /// <inheritdoc/>
    public void Broadcast(Span<long> values, int root = 0) { fixed (long* p = values) Bcast(p, values.Length, _int64, sizeof(long), root); }

    /// <inheritdoc/>
    public void Broadcast(Span<byte> values, int root = 0) { fixed (byte* p = values) Bcast(p, values.Length, _byte, 1, root); }

    // MPI counts are int: longer buffers go in chunks (every rank splits the same way).
    private const int Chunk = 1 << 30;

    private void AllReduce(void* p, int length, nint type, int elementSize)
    {
        ThrowIfFinalized();
        for (long off = 0; off < length; off += Chunk)
        {
            int n = (int)Math.Min(Chunk, length - off);
            // MPI_IN_PLACE is (void*)1 in Open MPI.
            Check(_allreduce((void*)1, (byte*)p + off * elementSize, n, type, _sum, _comm), "MPI_Allreduce");
        }
    }

    private void Bcast(void* p, int length, nint type, int elementSize, int root)
    {
        ThrowIfFinalized();
        if ((uint)root >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(root), root, $"the world has ranks 0 to {Size - 1}");
        for (long off = 0; off < length; off += Chunk)
            Check(_bcast((byte*)p + off * elementSize, (int)Math.Min(Chunk, length - off), type, root, _comm), "MPI_Bcast");
    }

    /// <inheritdoc/>
    public void Abort(int exitCode, string message)
    {
        try
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"rank {Rank} of {Size}: {message}");
            Console.Error.Flush();
        }
        finally
        {
            if (!_finalized) _abort(_comm, exitCode);
            Environment.Exit(exitCode);
        }
    }

    /// <summary>Calls <c>MPI_Finalize</c> (a collective: every rank must reach it). Later calls do nothing.</summary>
    public void Dispose()
    {
        lock (Gate)
        {
            if (_finalized) return;
            _finalized = true;
            Check(_finalize(), "MPI_Finalize");
        }
    }

    private void ThrowIfFinalized()
    {
        if (_finalized) throw new ObjectDisposedException(nameof(MpiCommunicator), "MPI was finalized");
    }

    private static void Check(int rc, string call)
    {
        if (rc != 0) throw new InvalidOperationException($"{call} failed with MPI error {rc}");
    }
}
