namespace Lwf.Cli;

/// <summary>A line of a process's /proc/PID/status in bytes (Linux): VmRSS (resident now), VmHWM (its high-water mark).</summary>
internal static class ProcessStatus
{
    /// <summary>The value of <paramref name="key"/> ("VmRSS:", "VmHWM:") in bytes; null when it cannot be read (the process has exited).</summary>
    public static long? Bytes(string key, int? pid = null)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid?.ToString() ?? "self"}/status").FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
            if (line is not null && long.TryParse(line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[1], out long kb)) return kb * 1024;
        }
        catch (IOException) { }
        return null;
    }
}
