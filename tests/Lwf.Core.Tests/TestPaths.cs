using System.Diagnostics;

namespace Lwf.Core.Tests;

/// <summary>Where the repository, its fixtures and the built `lwf` are, from the test assembly's location.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>Hugging Face reference fixtures (a copy of shared/fixtures/hf; see its README).</summary>
    public static string Fixture(string model) => Path.Combine(RepoRoot, "tests", "fixtures", "hf", model);

    /// <summary>This test process's temporary folders, removed when it exits (runs would otherwise fill the disk).</summary>
    private static readonly string TempRoot = CreateTempRoot();

    private static string CreateTempRoot()
    {
        string root = Path.Combine(Path.GetTempPath(), "lwf-tests", $"{Environment.ProcessId}-{Guid.NewGuid():N}");
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

    /// <summary>Runs the built `lwf` (same configuration as the tests) as a separate process.</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunLwf(params string[] args)
    {
        // bin/<Configuration>/<tfm>/ of the test project → the same folder of the CLI project.
        var tfmDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string configuration = tfmDir.Parent!.Name;
        string dll = Path.Combine(RepoRoot, "src", "Lwf.Cli", "bin", configuration, tfmDir.Name, "lwf.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5))) { process.Kill(true); throw new TimeoutException("lwf " + string.Join(' ', args)); }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
