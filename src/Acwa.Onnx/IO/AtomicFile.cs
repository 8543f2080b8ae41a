namespace Acwa.Onnx.IO;

/// <summary>Writes files so that a reader never sees a partial file: temp file in the same folder, fsync, rename.</summary>
public static class AtomicFile
{
    /// <summary>
    /// Writes <paramref name="path"/> through <paramref name="write"/>; on failure the old file is left untouched. When the
    /// file cannot be written (its folder is a file, the path is a folder, no permission, disk full), the exception
    /// (<see cref="IOException"/>, <see cref="DirectoryNotFoundException"/> or <see cref="UnauthorizedAccessException"/>)
    /// names <paramref name="path"/>.
    /// </summary>
    public static void Write(string path, Action<FileStream> write)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new IOException($"cannot write '{path}': it is a folder");
        string? tmp = null;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            tmp = full + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            DeleteTemp(tmp);
            var message = $"cannot write '{path}': {e.Message}";
            throw e switch
            {
                DirectoryNotFoundException => new DirectoryNotFoundException(message, e),
                UnauthorizedAccessException => new UnauthorizedAccessException(message, e),
                _ => new IOException(message, e),
            };
        }
        catch
        {
            DeleteTemp(tmp);
            throw;
        }
    }

    private static void DeleteTemp(string? tmp)
    {
        if (tmp is null) return;
        try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Writes all bytes atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, fs => fs.Write(copy));
    }

    /// <summary>Writes text (UTF-8) atomically.</summary>
    public static void WriteAllText(string path, string text) =>
        WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));
}
