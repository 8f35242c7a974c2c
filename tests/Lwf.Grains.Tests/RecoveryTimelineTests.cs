using Lwf.Grains.Collectives;
using Lwf.Grains.Jobs;

namespace Lwf.Grains.Tests;

public sealed class RecoveryTimelineTests
{
    [Fact]
    public void A_recovery_is_timed_from_the_jobs_last_progress_stage_by_stage()
    {
        var t0 = new DateTimeOffset(2026, 12, 7, 3, 0, 0, TimeSpan.Zero);
        var timeline = new RecoveryTimeline("learning-step7.1 failed: ring member 127.0.0.1:1 was declared dead", t0, t0.AddSeconds(9.04));
        timeline.RingFormed(t0.AddSeconds(12.5));
        timeline.RingFormed(t0.AddSeconds(30)); // a second formation (another retry) does not move the first
        var stages = timeline.Stages(t0.AddSeconds(14.25));
        Assert.Equal([RecoveryStage.Noticed, RecoveryStage.RingFormed, RecoveryStage.WorkResumed], stages.Select(s => s.Stage));
        Assert.Equal([9.04, 12.5, 14.25], stages.Select(s => Math.Round(s.Seconds, 2)));
        Assert.Equal("recovery (learning-step7.1 failed: ring member 127.0.0.1:1 was declared dead): noticed after 9.0 s, ring formed after 12.5 s, " +
            "learning-step7.2 done after 14.2 s (from the job's last progress)", timeline.Describe(t0.AddSeconds(14.24), "learning-step7.2"));
    }

    [Fact]
    public void A_job_logs_last_line_gives_the_time_a_stalled_job_last_moved()
    {
        string dir = Path.Combine(Repo.NewTempDir(), "job");
        var log = new JobLog(dir);
        Assert.Null(log.LastLineTime());
        log.Write("step 1/12: loss 3.0");
        var before = DateTimeOffset.UtcNow;
        log.Write(new string('x', 10_000)); // a long line (a failure message, say) is read whole
        var last = log.LastLineTime();
        Assert.NotNull(last);
        Assert.InRange(last.Value, before.AddMilliseconds(-1), DateTimeOffset.UtcNow);
        Directory.Delete(dir, recursive: true);
    }
}
