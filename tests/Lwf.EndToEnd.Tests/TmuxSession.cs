using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Lwf.EndToEnd.Tests;

/// <summary>
/// A command in a real terminal (a detached tmux session on a server of its own): what it printed, as a person would
/// see it, and keys typed into it (a real ^C goes through the terminal's line discipline as SIGINT).
/// </summary>
internal sealed partial class TmuxSession : IDisposable
{
    private readonly string _tmux, _socket = $"lwf-test-{Guid.NewGuid():N}";

    /// <summary>tmux on PATH, or null (.ci/run installs it).</summary>
    public static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "tmux")).FirstOrDefault(File.Exists);

    /// <summary>Starts `lwf ARGS` in a terminal of <paramref name="columns"/> columns, with LWF_HOME and the working folder given.</summary>
    public TmuxSession(string tmux, int columns, string home, string? workingDirectory, params string[] args)
    {
        _tmux = tmux;
        var lwf = global::Lwf.Tests.TestSupport.Lwf(args);
        string command = string.Join(' ', new[] { lwf.FileName }.Concat(lwf.ArgumentList).Select(Quote));
        string cd = workingDirectory is null ? "" : $"cd {Quote(workingDirectory)} && ";
        // The pane stays after the command (sleep), so that its whole history and exit code can be read. One libtorch
        // thread unless the run says otherwise, as every `lwf` of these tests (Lwf.cs): weights compared byte for byte.
        Tmux("new-session", "-d", "-x", columns.ToString(), "-y", "50", "-s", "lwf", $"{cd}LWF_HOME={Quote(home)} OMP_NUM_THREADS=${{OMP_NUM_THREADS:-1}} {command}; echo LWF-EXIT=$?; sleep 600");
    }

    private static string Quote(string a) => "'" + a.Replace("'", "'\\''") + "'";

    private string Tmux(params string[] args)
    {
        var start = new ProcessStartInfo(_tmux) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "-L", _socket }.Concat(args)) start.ArgumentList.Add(a);
        var (code, stdout, stderr) = global::Lwf.Tests.TestSupport.Run(start, TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"tmux {string.Join(' ', args)}: {stderr}");
        return stdout;
    }

    /// <summary>The whole history of the pane; <paramref name="joined"/>: the rows a wrapped line took joined into one.</summary>
    public string Capture(bool joined = false) =>
        joined ? Tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "lwf") : Tmux("capture-pane", "-p", "-S", "-", "-t", "lwf");

    /// <summary>Waits until the pane (joined) matches <paramref name="pattern"/>; fails with the pane after <paramref name="limit"/>.</summary>
    public string WaitFor(string pattern, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        string pane;
        while (!Regex.IsMatch(pane = Capture(joined: true), pattern, RegexOptions.Multiline))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no /{pattern}/ within {limit}:\n{pane}");
            Thread.Sleep(300);
        }
        return pane;
    }

    /// <summary>A real ^C, typed into the terminal.</summary>
    public void CtrlC() => Tmux("send-keys", "-t", "lwf", "C-c");

    /// <summary>The command's exit code, and the pane (joined) when it ended.</summary>
    public (int ExitCode, string Pane) WaitForExit(TimeSpan limit)
    {
        string pane = WaitFor(@"^LWF-EXIT=\d+", limit);
        return (int.Parse(ExitLine().Match(pane).Groups[1].Value), pane);
    }

    [GeneratedRegex(@"^LWF-EXIT=(\d+)", RegexOptions.Multiline)]
    private static partial Regex ExitLine();

    public void Dispose()
    {
        try { Tmux("kill-server"); } catch (Exception) { }
    }
}
