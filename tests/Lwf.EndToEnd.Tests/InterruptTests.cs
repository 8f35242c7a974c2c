using System.Text.RegularExpressions;

namespace Lwf.EndToEnd.Tests;

/// <summary>
/// A real ^C typed into a terminal, as Ray's and the Trainer's users know it: `train` and `run` stop at a step
/// boundary with a checkpoint to go on from (and `--resume` from it ends with the uninterrupted run's weights);
/// `watch` and `submit --wait` stop following, not the job. Every one exits 130.
/// </summary>
public sealed class InterruptTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(6);

    /// <summary>The tiny job with 24 steps (a checkpoint every 4), beside it so that its paths hold: time for a ^C mid-training.</summary>
    private static string LongJob()
    {
        string tiny = Path.Combine(Lwf.RepoRoot, "cluster", "jobs", "tiny-lwf.yaml");
        string job = Path.Combine(Path.GetDirectoryName(tiny)!, $".interrupt-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(job, File.ReadAllText(tiny).Replace("max_steps: 12", "max_steps: 24"));
        return job;
    }

    private static byte[] Weights(string outDir) => File.ReadAllBytes(Path.Combine(outDir, "model", "model.safetensors"));

    [SkippableFact]
    public void Ctrl_c_stops_train_and_run_at_a_step_with_a_checkpoint_and_resume_ends_with_the_uninterrupted_weights()
    {
        string? tmux = TmuxSession.Find();
        Skip.If(tmux is null, "tmux is not installed (.ci/run installs it)");
        string job = LongJob();
        try
        {
            var lwf = new Lwf(Lwf.NewTempDir());
            string reference = Path.Combine(Lwf.NewTempDir(), "out");
            lwf.Ok("train", job, "--out", reference);

            foreach (var command in new[] { "train", "run" })
            {
                string outDir = Path.Combine(Lwf.NewTempDir(), "out");
                using (var terminal = new TmuxSession(tmux!, 160, lwf.Home, null, command, job, "--out", outDir))
                {
                    terminal.WaitFor(@"training ([2-9]|1\d)/24", Limit);
                    terminal.CtrlC();
                    var (code, pane) = terminal.WaitForExit(Limit);
                    Assert.True(code == 130, $"{command}:\n{pane}");
                    Assert.Contains("^C: finishing this learning step and writing a checkpoint (^C again stops at once)", pane);
                    var stopped = Regex.Match(pane, @"stopped after learning step (\d+) of 24: (checkpoint-\d+) is in (.+?)\. Go on (in one process )?with:\n  lwf train (.+) --out (.+) --resume");
                    Assert.True(stopped.Success, $"{command}:\n{pane}");
                    Assert.Equal(outDir, stopped.Groups[3].Value);
                    Assert.True(Directory.Exists(Path.Combine(outDir, stopped.Groups[2].Value)), pane);
                    Assert.Equal("checkpoint-" + stopped.Groups[1].Value, stopped.Groups[2].Value); // a checkpoint where it stopped (the cluster's trainer writes one too)
                    string resumed = lwf.Run("train", job, "--out", outDir, "--resume").Stderr;
                    Assert.Contains($"resumed from {stopped.Groups[2].Value} (learning step", resumed);
                }
                Assert.Equal(Weights(reference), Weights(outDir));
            }
        }
        finally
        {
            File.Delete(job);
        }
    }

    [SkippableFact]
    public void Ctrl_c_on_submit_wait_and_watch_stops_following_and_the_job_goes_on()
    {
        string? tmux = TmuxSession.Find();
        Skip.If(tmux is null, "tmux is not installed (.ci/run installs it)");
        string job = LongJob();
        var lwf = new Lwf(Lwf.NewTempDir()) { WorkingDirectory = Lwf.RepoRoot };
        lwf.Ok("cluster", "up", "--silos", "1");
        try
        {
            string id;
            using (var terminal = new TmuxSession(tmux!, 160, lwf.Home, Lwf.RepoRoot, "submit", "--on-cluster", job, "--wait"))
            {
                string pane = terminal.WaitFor(@"training \d+/24", Limit);
                id = Regex.Match(pane, @"^submitted .*\n(\S+)$", RegexOptions.Multiline).Groups[1].Value;
                Assert.False(string.IsNullOrEmpty(id), pane);
                terminal.CtrlC();
                var (code, ended) = terminal.WaitForExit(TimeSpan.FromSeconds(30));
                Assert.True(code == 130, ended);
                Assert.Contains($"^C: stopped following {id}; the job goes on on the cluster.\n  lwf watch {id}    follow it again\n  lwf cancel {id}   stop it", ended);
            }
            using (var terminal = new TmuxSession(tmux!, 160, lwf.Home, Lwf.RepoRoot, "watch", id))
            {
                terminal.WaitFor(@"training \d+/24", Limit);
                terminal.CtrlC();
                var (code, ended) = terminal.WaitForExit(TimeSpan.FromSeconds(30));
                Assert.True(code == 130, ended);
                Assert.Contains($"^C: stopped following {id}; the job goes on on the cluster.", ended);
            }
            // Not cancelled: the job went on to its end (`watch` without an id follows the newest job).
            var (watchCode, stdout, stderr) = lwf.Run("watch");
            Assert.True(watchCode == 0, stdout + stderr);
            Assert.Contains($"the newest job: {id}", stderr);
        }
        finally
        {
            lwf.Run("cluster", "down");
            File.Delete(job);
        }
    }
}
