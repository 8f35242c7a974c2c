using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Lwf.EndToEnd.Tests;

/// <summary>
/// Every write to a file of one mount, with the writing process's pid and the time: fatrace (fanotify), started in a
/// folder of that mount. Fencing is checked on this record, not on what the cluster says about itself: a process
/// that writes after it lost its job shows here whatever its logs claim. Needs root and fatrace (.ci/run installs it).
/// </summary>
internal sealed partial class FileWriteTrace : IDisposable
{
    public readonly record struct Write(DateTimeOffset At, int Pid, string Path);

    private readonly Process _fatrace;
    private readonly string _output;

    private FileWriteTrace(Process fatrace, string output)
    {
        _fatrace = fatrace;
        _output = output;
    }

    public static string? Missing() =>
        new[] { "/usr/sbin/fatrace", "/usr/bin/fatrace" }.Any(File.Exists) ? null : "fatrace is not installed (.ci/run installs it: apt-get install fatrace)";

    /// <summary>Traces the mount that holds <paramref name="folder"/>; returns once a write in it has been seen (the trace is live).</summary>
    public static FileWriteTrace Start(string folder)
    {
        string output = Path.Combine(Lwf.NewTempDir(), "fatrace.log");
        var start = new ProcessStartInfo("fatrace", ["--current-mount", "-tt", "--filter=W", "--output", output]) { WorkingDirectory = folder, UseShellExecute = false };
        var trace = new FileWriteTrace(Process.Start(start)!, output);
        string probe = Path.Combine(folder, $".fatrace-probe-{Guid.NewGuid():N}");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!trace.Writes().Any(w => w.Path == probe))
        {
            Assert.True(DateTime.UtcNow < deadline && !trace._fatrace.HasExited, "fatrace did not start tracing " + folder);
            File.WriteAllText(probe, "probe");
            Thread.Sleep(200);
        }
        File.Delete(probe);
        return trace;
    }

    /// <summary>The writes recorded so far.</summary>
    public List<Write> Writes()
    {
        if (!File.Exists(_output)) return [];
        using var stream = new FileStream(_output, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var writes = new List<Write>();
        while (reader.ReadLine() is { } line)
        {
            // "1796634450.755244 dotnet(28619): CW /path/to/file"
            var m = Line().Match(line);
            if (!m.Success) continue;
            double seconds = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            writes.Add(new(DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000)), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), m.Groups[3].Value));
        }
        return writes;
    }

    [GeneratedRegex(@"^(\d+\.\d+) .*\((\d+)\): \S+\s+(.+)$")]
    private static partial Regex Line();

    public void Dispose()
    {
        try { if (!_fatrace.HasExited) _fatrace.Kill(); } catch (InvalidOperationException) { }
        _fatrace.Dispose();
    }
}
