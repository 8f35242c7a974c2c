namespace Lwf.Cli;

/// <summary>A plain table for people: a header row and rows, columns padded to their widest cell, two spaces apart.</summary>
internal static class TextTable
{
    public static void Write(IReadOnlyList<string[]> rows, TextWriter? output = null)
    {
        output ??= Console.Out;
        int[] widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var row in rows) output.WriteLine(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
    }

    /// <summary>"512 B", "1.2 MiB", "3.40 GiB".</summary>
    public static string Bytes(long bytes) => bytes switch
    {
        < 1 << 10 => $"{bytes} B",
        < 1 << 20 => $"{bytes / 1024.0:F1} KiB",
        < 1 << 30 => $"{bytes / 1048576.0:F1} MiB",
        _ => $"{bytes / 1073741824.0:F2} GiB",
    };

    /// <summary>"42 s", "7 min", "3 h", "2 d".</summary>
    public static string Age(TimeSpan t) => t.TotalSeconds < 90 ? $"{Math.Max(0, (int)t.TotalSeconds)} s"
        : t.TotalMinutes < 90 ? $"{(int)t.TotalMinutes} min" : t.TotalHours < 48 ? $"{(int)t.TotalHours} h" : $"{(int)t.TotalDays} d";
}
