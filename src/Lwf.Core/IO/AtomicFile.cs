namespace Lwf.Core.IO;

/// <summary>Write-to-temporary, flush, rename: readers see the old file or the whole new one, never half.</summary>
public static class AtomicFile
{
    /// <param name="mode">Unix permissions of the new file (e.g. owner-only for a file that holds a password); default: the umask's.</param>
    public static void Write(string path, Action<Stream> write, UnixFileMode? mode = null)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            var open = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 20 };
            if (mode is { } m && !OperatingSystem.IsWindows()) open.UnixCreateMode = m;
            using (var stream = new FileStream(tmp, open))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    public static void WriteText(string path, string text, UnixFileMode? mode = null) =>
        Write(path, s => s.Write(System.Text.Encoding.UTF8.GetBytes(text)), mode);
}
