using System.Text.RegularExpressions;

namespace Lwf.EndToEnd.Tests;

/// <summary>`lwf soak checkpoints` as an operator runs it, with few kills: SIGKILLed `lwf train` processes resume to the uninterrupted run's bytes.</summary>
public sealed class CheckpointSoakTests
{
    [Fact]
    public void Killed_runs_resume_to_the_bytes_of_an_uninterrupted_run()
    {
        var lwf = new Lwf(Lwf.NewTempDir());
        string work = Path.Combine(Lwf.NewTempDir(), "soak");
        string job = Path.Combine(Lwf.RepoRoot, "cluster", "jobs", "soak-checkpoints.yaml");
        var (code, stdout, stderr) = lwf.Run("soak", "checkpoints", "--job", job, "--kills", "6", "--seed", "3", "--out", work);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("kills: 6 (SIGKILL)", stdout);
        Assert.Contains("differences from the uninterrupted run: 0", stdout);
        Assert.Contains("damaged checkpoints loaded: 0", stdout);
        var resumed = Regex.Match(stdout, @"restarts: (\d+) resumed from a whole checkpoint");
        Assert.True(resumed.Success, stdout);
        Assert.True(int.Parse(resumed.Groups[1].Value) >= 1, stdout); // at least one kill came after a checkpoint
        Assert.Matches(@"runs that reached the end: [1-9]", stdout);

        // The work folder is the operator's: a second soak into it is refused, not cleared.
        var again = lwf.Run("soak", "checkpoints", "--job", job, "--kills", "1", "--out", work);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("is not empty", again.Stderr);
    }
}
