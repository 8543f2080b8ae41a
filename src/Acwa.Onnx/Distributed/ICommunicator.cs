namespace Acwa.Onnx.Distributed;

/// <summary>
/// The collectives a data-parallel run needs (docs/distributed.md): every rank calls every collective in the same order
/// with the same lengths. <see cref="MpiCommunicator"/> runs them over MPI; <see cref="SingleProcessCommunicator"/> is the
/// one-rank world (every collective is the identity).
/// </summary>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's rank, 0 to <see cref="Size"/> - 1.</summary>
    int Rank { get; }

    /// <summary>The number of ranks.</summary>
    int Size { get; }

    /// <summary>Replaces <paramref name="values"/> on every rank by the element-wise sum over all ranks (in place).</summary>
    void AllReduceSum(Span<float> values);

    /// <inheritdoc cref="AllReduceSum(Span{float})"/>
    void AllReduceSum(Span<double> values);

    /// <inheritdoc cref="AllReduceSum(Span{float})"/>
    void AllReduceSum(Span<long> values);

    /// <summary>Copies <paramref name="root"/>'s <paramref name="values"/> to every rank (in place).</summary>
    void Broadcast(Span<float> values, int root = 0);

    /// <inheritdoc cref="Broadcast(Span{float}, int)"/>
    void Broadcast(Span<double> values, int root = 0);

    /// <inheritdoc cref="Broadcast(Span{float}, int)"/>
    void Broadcast(Span<long> values, int root = 0);

    /// <inheritdoc cref="Broadcast(Span{float}, int)"/>
    void Broadcast(Span<byte> values, int root = 0);

    /// <summary>
    /// Ends every rank of the job with <paramref name="exitCode"/> after writing <paramref name="message"/> (prefixed with
    /// this rank) to standard error; does not return. For a failure only this rank saw: the others may be waiting in a
    /// collective and would otherwise wait forever.
    /// </summary>
    void Abort(int exitCode, string message);
}
