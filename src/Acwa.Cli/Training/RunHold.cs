using System.Text;

namespace Acwa.Cli.Training;

/// <summary>
/// An exclusive hold on a run folder's lock file (<see cref="ReproduceRun.LockFile"/>), shared safely by several processes:
/// an OS lock on the open file (released when the process dies), and the file removed again when the hold ends, so that
/// finished runs leave no lock files behind.
/// </summary>
/// <remarks>
/// Removing a lock file races with a process that opened it just before: that process could then lock the removed file while
/// a third creates and locks a new one. So the holder first writes <see cref="RemovedMark"/> into the file, then deletes it,
/// then releases the lock; a process that gets the lock on a file holding the mark knows it holds a removed file and opens the
/// path again. (On Windows a held file cannot be opened at all, so it is deleted after release; a failed delete leaves it.)
/// </remarks>
internal sealed class RunHold : IDisposable
{
    private static readonly byte[] RemovedMark = Encoding.ASCII.GetBytes("removed\n");
    private readonly FileStream _file;

    private RunHold(FileStream file, string path)
    {
        _file = file;
        Path = path;
    }

    /// <summary>The lock file.</summary>
    public string Path { get; }

    /// <summary>
    /// Whether an IOException is .NET's "being used by another process": the lock call's error as HResult, EWOULDBLOCK on
    /// Linux (11) and macOS (35), ERROR_SHARING_VIOLATION on Windows.
    /// </summary>
    private static bool HeldElsewhere(IOException e) => e.HResult is 11 or 35 or unchecked((int)0x80070020);

    /// <summary>Holds <paramref name="path"/>, creating it (and its folder); null when another process holds it.</summary>
    /// <exception cref="IOException">The file cannot be opened, or it kept being removed under this process.</exception>
    public static RunHold? TryAcquire(string path)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        for (int attempt = 0; attempt < 100; attempt++)
        {
            FileStream fs;
            try { fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException e) when (HeldElsewhere(e)) { return null; }
            if (!IsRemoved(fs)) return new RunHold(fs, path);
            fs.Dispose(); // locked a file its last holder removed meanwhile: open the path again
        }
        throw new IOException($"'{path}' was removed under this process 100 times in a row; is another process creating and removing it?");
    }

    private static bool IsRemoved(FileStream fs)
    {
        if (fs.Length != RemovedMark.Length) return false;
        var buf = new byte[RemovedMark.Length];
        fs.Position = 0;
        fs.ReadExactly(buf);
        fs.Position = 0;
        return buf.AsSpan().SequenceEqual(RemovedMark);
    }

    /// <summary>Removes the lock file and releases the lock.</summary>
    public void Dispose()
    {
        if (OperatingSystem.IsWindows())
        {
            _file.Dispose();
            try { File.Delete(Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            return;
        }
        try
        {
            _file.SetLength(0);
            _file.Write(RemovedMark);
            _file.Flush();
            File.Delete(Path);
        }
        catch (IOException) { } // the lock is released below in any case; a file left behind is only untidy
        catch (UnauthorizedAccessException) { }
        finally { _file.Dispose(); }
    }
}
