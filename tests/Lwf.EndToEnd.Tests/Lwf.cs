using System.Diagnostics;
using System.Text.Json;

namespace Lwf.EndToEnd.Tests;

/// <summary>The built `lwf`, run as its own process with its own LWF_HOME (so clusters of tests never meet).</summary>
internal sealed class Lwf(string home)
{
    public static string RepoRoot { get; } = FindRoot();

    public string Home => home;

    /// <summary>This test process's temporary folders, removed when it exits (runs would otherwise fill the disk).</summary>
    private static readonly string TempRoot = CreateTempRoot();

    private static string CreateTempRoot()
    {
        string root = Path.Combine(Path.GetTempPath(), "lwf-e2e", $"{Environment.ProcessId}-{Guid.NewGuid():N}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, recursive: true); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        };
        return root;
    }

    public static string NewTempDir()
    {
        string dir = Path.Combine(TempRoot, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

/// <summary>Environment variables every command of this instance gets, on top of LWF_HOME (a silo pod's, say).</summary>
    public Dictionary<string, string> Env { get; } = new();

    private ProcessStartInfo StartInfo(string[] args)
    {
        var tfm = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string dll = Path.Combine(RepoRoot, "src", "Lwf.Cli", "bin", tfm.Parent!.Name, tfm.Name, "lwf.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (key, value) in Env) start.Environment[key] = value;
        start.Environment["LWF_HOME"] = home;
        return start;
    }

    public (int ExitCode, string Stdout, string Stderr) Run(params string[] args)
    {
        using var process = Process.Start(StartInfo(args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8))) { process.Kill(true); throw new TimeoutException("lwf " + string.Join(' ', args)); }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

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

    public string Ok(params string[] args)
    {
        var (code, stdout, stderr) = Run(args);
        Assert.True(code == 0, $"lwf {string.Join(' ', args)} exited {code}\n{stdout}\n{stderr}");
        return stdout;
    }

    /// <summary>The silo processes `lwf cluster up` recorded.</summary>
    public List<(int Pid, int SiloPort)> Silos()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(home, "cluster.json")));
        return doc.RootElement.GetProperty("Silos").EnumerateArray()
            .Select(s => (s.GetProperty("Pid").GetInt32(), s.GetProperty("SiloPort").GetInt32())).ToList();
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Lwf.Orleans.sln"))) return dir.FullName;
        throw new InvalidOperationException("Lwf.Orleans.sln not found");
    }
}
