using Lwf.Tests;

namespace Lwf.Core.Tests;

/// <summary>Where the repository, its fixtures and the built `lwf` are (tests/Shared/TestSupport.cs), plus the HF fixtures.</summary>
public static class TestPaths
{
    public static string RepoRoot => TestSupport.RepoRoot;

    /// <summary>Hugging Face reference fixtures (a copy of shared/fixtures/hf; see its README).</summary>
    public static string Fixture(string model) => Path.Combine(RepoRoot, "tests", "fixtures", "hf", model);

    public static string NewTempDir() => TestSupport.NewTempDir();

    /// <summary>Runs the built `lwf` (same configuration as the tests) as a separate process.</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunLwf(params string[] args) =>
        TestSupport.Run(TestSupport.Lwf(args), TimeSpan.FromMinutes(5));
}
