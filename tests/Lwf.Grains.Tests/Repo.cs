using Lwf.Tests;

namespace Lwf.Grains.Tests;

/// <summary>The repository and temporary folders (tests/Shared/TestSupport.cs).</summary>
internal static class Repo
{
    public static string Root => TestSupport.RepoRoot;

    public static string Path(params string[] parts) => TestSupport.RepoPath(parts);

    public static string NewTempDir() => TestSupport.NewTempDir();
}
