using System.Diagnostics;
using System.Text.Json;
using Lwf.Tests;

namespace Lwf.EndToEnd.Tests;

/// <summary>The built `lwf`, run as its own process with its own LWF_HOME (so clusters of tests never meet).</summary>
internal sealed class Lwf(string home)
{
    public static string RepoRoot => TestSupport.RepoRoot;

    public string Home => home;

    public static string NewTempDir() => TestSupport.NewTempDir();

    /// <summary>Environment variables every command of this instance gets, on top of LWF_HOME (a silo pod's, say).</summary>
    public Dictionary<string, string> Env { get; } = new();

    /// <summary>Where every command of this instance runs (default: the test process's own folder).</summary>
    public string? WorkingDirectory { get; init; }

    private ProcessStartInfo StartInfo(string[] args)
    {
        var start = TestSupport.Lwf(args);
        if (WorkingDirectory is not null) start.WorkingDirectory = WorkingDirectory;
        // One libtorch thread for every `lwf` these tests run, silos included, unless the run says otherwise: a sum split
        // over threads rounds by their number, so a cluster's weights equal one process's byte for byte only at equal
        // thread counts (`lwf cluster up` gives its silos a share of the cores, `lwf train` takes them all); and these
        // processes share the machine's cores with each other.
        if (Environment.GetEnvironmentVariable("OMP_NUM_THREADS") is null) start.Environment["OMP_NUM_THREADS"] = "1";
        foreach (var (key, value) in Env) start.Environment[key] = value;
        start.Environment["LWF_HOME"] = home;
        return start;
    }

    public (int ExitCode, string Stdout, string Stderr) Run(params string[] args) => TestSupport.Run(StartInfo(args), TimeSpan.FromMinutes(8));

    /// <summary>Starts a long-running command (`lwf silo`); its output goes to <paramref name="log"/>.</summary>
    public Process Start(string log, params string[] args)
    {
        var process = Process.Start(StartInfo(args))!;
        var writer = TextWriter.Synchronized(new StreamWriter(log) { AutoFlush = true });
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) writer.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) writer.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>
    /// What a failed `lwf watch ID` leaves to go on, for its assertion's message: the job's status and log, and the
    /// last lines of each silo's log (<see cref="Printable"/>).
    /// </summary>
    public string Explain(string id)
    {
        var (_, status, statusErr) = Run("status", id);
        var (_, log, logErr) = Run("logs", id);
        var silos = Directory.GetFiles(home, "silo-*.log").Order()
            .Select(f => $"--- {Path.GetFileName(f)}, last lines:\n" + string.Join('\n', File.ReadLines(f).TakeLast(15)));
        return Printable($"\n--- lwf status:\n{status}{statusErr}--- lwf logs:\n{log}{logErr}" + string.Join('\n', silos));
    }

    /// <summary>Text for an assertion's message, control characters out: xunit shows no message that holds them.</summary>
    public static string Printable(string text) => System.Text.RegularExpressions.Regex.Replace(text, @"[\x00-\x08\x0B-\x1F\x7F]", "?");

    public string Ok(params string[] args)
    {
        var (code, stdout, stderr) = Run(args);
        Assert.True(code == 0, $"lwf {string.Join(' ', args)} exited {code}\n{stdout}\n{stderr}");
        return stdout;
    }

    /// <summary>The silos' /metrics endpoints (host:port) `lwf cluster up` wrote for Prometheus' file discovery.</summary>
    public List<string> PrometheusTargets()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(home, "prometheus-targets.json")));
        return doc.RootElement.EnumerateArray().SelectMany(g => g.GetProperty("targets").EnumerateArray().Select(t => t.GetString()!)).ToList();
    }

    /// <summary>The silo processes `lwf cluster up` recorded.</summary>
    public List<(int Pid, int SiloPort, int HttpPort)> Silos()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(home, "cluster.json")));
        return doc.RootElement.GetProperty("Silos").EnumerateArray()
            .Select(s => (s.GetProperty("Pid").GetInt32(), s.GetProperty("SiloPort").GetInt32(), s.GetProperty("HttpPort").GetInt32())).ToList();
    }
}
