using Lwf.Core.Tests.Jobs;

namespace Lwf.Core.Tests.Cli;

/// <summary>The `overwrite_output_dir` rule: a run into an --out that holds an earlier run touches nothing of it unless told.</summary>
public sealed class OutputFolderTests
{
    /// <summary>Every file under the folder with its bytes.</summary>
    private static SortedDictionary<string, string> Snapshot(string dir) => new(
        Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).ToDictionary(
            p => Path.GetRelativePath(dir, p), p => File.Exists(p) ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(p))) : "dir"),
        StringComparer.Ordinal);

    [Fact]
    public void A_rerun_into_a_used_out_is_refused_untouched_and_goes_on_only_with_resume_or_overwrite()
    {
        string dir = TestPaths.NewTempDir(), outDir = Path.Combine(dir, "out");
        string job = JobFiles.Write(dir, forgetting: "  arrange: none");
        var first = TestPaths.RunLwf("train", job, "--out", outDir);
        Assert.True(first.ExitCode == 0, first.Stdout + first.Stderr);
        var before = Snapshot(outDir);
        Assert.Contains(before.Keys, k => k.StartsWith("checkpoint-", StringComparison.Ordinal));

        var again = TestPaths.RunLwf("train", job, "--out", outDir);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains($"error: {outDir}: --out already holds checkpoint-", again.Stderr);
        Assert.Contains("nothing was touched. Go on from its newest checkpoint with --resume, or start afresh over it with --overwrite-output-dir, or choose another --out", again.Stderr);
        var run = TestPaths.RunLwf("run", job, "--out", outDir, "--silos", "1");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("nothing was touched. Write over it with --overwrite-output-dir, or choose another --out", run.Stderr);
        Assert.Equal(before, Snapshot(outDir));

        var resumed = TestPaths.RunLwf("train", job, "--out", outDir, "--resume");
        Assert.True(resumed.ExitCode == 0, resumed.Stdout + resumed.Stderr);
        Assert.Contains("resumed from checkpoint-8 (learning step 8 of 8)", resumed.Stderr);
        var overwritten = TestPaths.RunLwf("train", job, "--out", outDir, "--overwrite-output-dir");
        Assert.True(overwritten.ExitCode == 0, overwritten.Stdout + overwritten.Stderr);
        Assert.Equal(before["model/model.safetensors"], Snapshot(outDir)["model/model.safetensors"]); // the same job again: the same weights
    }

    [Fact]
    public void Demo_and_experiment_refuse_an_out_of_the_users_before_doing_anything()
    {
        string dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "mine.txt"), "mine");
        var demo = TestPaths.RunLwf("demo", "--out", dir, "--dir", Path.Combine(dir, "no-data"));
        Assert.Equal(2, demo.ExitCode);
        Assert.Contains($"{dir}: --out already holds mine.txt; nothing was touched", demo.Stderr);
        Assert.False(Directory.Exists(Path.Combine(dir, "no-data"))); // refused before fetching anything

        string markdown = Path.Combine(dir, "mine.txt");
        var experiment = TestPaths.RunLwf("experiment", "--out", markdown, "--dir", Path.Combine(dir, "no-data"));
        Assert.Equal(2, experiment.ExitCode);
        Assert.Contains($"{markdown}: --out is a file that `lwf experiment` did not write; nothing was touched", experiment.Stderr);
        Assert.Equal("mine", File.ReadAllText(markdown));
    }
}
