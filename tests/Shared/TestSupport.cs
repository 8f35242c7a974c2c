using System.Diagnostics;
using Lwf.Core.Checkpoints;

namespace Lwf.Tests;

/// <summary>
/// What every test project needs from its surroundings: the repository, temporary folders that go away with
/// the test process, and running a program (the built `lwf`, helm) to its end. One source file, linked into each
/// test project (tests/Shared); the projects' own helpers (TestPaths, Repo, Lwf) add what is theirs.
/// </summary>
internal static class TestSupport
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string RepoPath(params string[] parts) => Path.Combine([RepoRoot, .. parts]);

    /// <summary>This test process's temporary folders, removed when it exits (runs would otherwise fill the disk) unless LWF_TEST_KEEP=1.</summary>
    private static readonly string TempRoot = CreateTempRoot();

    private static string CreateTempRoot()
    {
        string assembly = typeof(TestSupport).Assembly.GetName().Name ?? "tests";
        string root = Path.Combine(Path.GetTempPath(), "lwf-tests", assembly, $"{Environment.ProcessId}-{Guid.NewGuid():N}");
        // LWF_TEST_KEEP=1 keeps them, for a post-mortem of a failed run (silo logs, job logs, checkpoints).
        if (Environment.GetEnvironmentVariable("LWF_TEST_KEEP") == "1") return root;
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

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Lwf.Orleans.sln"))) return dir.FullName;
        throw new InvalidOperationException("Lwf.Orleans.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>`dotnet lwf.dll ARGS` for the `lwf` built in the tests' configuration (bin/&lt;Configuration&gt;/&lt;tfm&gt;/ of src/Lwf.Cli).</summary>
    public static ProcessStartInfo Lwf(IEnumerable<string> args)
    {
        var tfm = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(RepoPath("src", "Lwf.Cli", "bin", tfm.Parent!.Name, tfm.Name, "lwf.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        return start;
    }

    /// <summary>Runs a program to its end, its output captured; killed with its children after <paramref name="limit"/>.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(ProcessStartInfo start, TimeSpan limit)
    {
        start.RedirectStandardOutput = start.RedirectStandardError = true;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(limit))
        {
            process.Kill(true);
            throw new TimeoutException($"{start.FileName} {string.Join(' ', start.ArgumentList)} ran past {limit}");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Per tensor, the largest |a − b| relative to max |a|, over two saved models.</summary>
    public static double MaxRelativeDifference(string modelA, string modelB) => ModelDifference.MaxRelative(modelA, modelB);
}
