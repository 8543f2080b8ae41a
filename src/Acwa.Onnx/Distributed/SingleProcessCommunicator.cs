namespace Acwa.Onnx.Distributed;

/// <summary>The world of one process: rank 0 of 1, every collective leaves its data as they are.</summary>
public sealed class SingleProcessCommunicator : ICommunicator
{
    /// <summary>The shared instance (it holds nothing).</summary>
    public static SingleProcessCommunicator Instance { get; } = new();

    private SingleProcessCommunicator() { }

    /// <inheritdoc/>
    public int Rank => 0;

    /// <inheritdoc/>
    public int Size => 1;

    /// <inheritdoc/>
    public void AllReduceSum(Span<float> values) { }

    /// <inheritdoc/>
    public void AllReduceSum(Span<double> values) { }

    /// <inheritdoc/>
    public void AllReduceSum(Span<long> values) { }

    /// <inheritdoc/>
    public void Broadcast(Span<float> values, int root = 0) => CheckRoot(root);

    /// <inheritdoc/>
    public void Broadcast(Span<double> values, int root = 0) => CheckRoot(root);

    /// <inheritdoc/>
    public void Broadcast(Span<long> values, int root = 0) => CheckRoot(root);

    /// <inheritdoc/>
    public void Broadcast(Span<byte> values, int root = 0) => CheckRoot(root);

    /// <inheritdoc/>
    public void Abort(int exitCode, string message)
    {
        Console.Error.WriteLine($"rank 0 of 1: {message}");
        Environment.Exit(exitCode);
    }

    /// <summary>Nothing to release.</summary>
    public void Dispose() { }

    private static void CheckRoot(int root)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), root, "a single-process world has only rank 0");
    }
}
