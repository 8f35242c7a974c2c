using System.Text;
using Lwf.Abstractions;

namespace Lwf.Grains.Jobs;

/// <summary>
/// A job's log, job.log in its folder on the checkpoint volume: one UTC-timestamped line per event (submitted,
/// phases, every logging_steps-th learning step with its forgetting records, evaluations, checkpoints, resumes, the end),
/// appended by whichever trainer activation runs the job, so it survives the silo that wrote it. `lwf logs` reads it.
/// </summary>
public sealed class JobLog(string jobDirectory)
{
    private const int MaxChunkBytes = 1 << 20;
    private readonly object _gate = new();

    private string PathOf => new JobFolders(jobDirectory).Log;

    public void Write(string line)
    {
        lock (_gate)
        {
            Directory.CreateDirectory(jobDirectory);
            File.AppendAllText(PathOf, $"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {line.ReplaceLineEndings(" ")}\n");
        }
    }

    /// <summary>The time of the last whole line (null without one): where a job that stood still last moved.</summary>
    public DateTimeOffset? LastLineTime()
    {
        if (!File.Exists(PathOf)) return null;
        using var stream = new FileStream(PathOf, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Position = Math.Max(0, stream.Length - 65536);
        var buffer = new byte[stream.Length - stream.Position];
        stream.ReadExactly(buffer);
        var lines = Encoding.UTF8.GetString(buffer).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return lines.Length > 0 && DateTimeOffset.TryParseExact(lines[^1].Split(' ')[0], "yyyy-MM-ddTHH:mm:ss.fffZ",
            System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var at) ? at : null;
    }

    /// <summary>Whole lines from <paramref name="offset"/>, up to about a mebibyte.</summary>
    public JobLogChunk Read(long offset)
    {
        if (!File.Exists(PathOf)) return new("", 0);
        using var stream = new FileStream(PathOf, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        offset = Math.Clamp(offset, 0, stream.Length);
        stream.Position = offset;
        var buffer = new byte[(int)Math.Min(MaxChunkBytes, stream.Length - offset)];
        stream.ReadExactly(buffer);
        int end = Array.LastIndexOf(buffer, (byte)'\n') + 1; // a line being written is left for the next read
        return new(Encoding.UTF8.GetString(buffer, 0, end), offset + end);
    }
}
