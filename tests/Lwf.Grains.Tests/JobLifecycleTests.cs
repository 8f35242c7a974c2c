using Lwf.Abstractions;
using Lwf.Core.Checkpoints;
using Lwf.Grains.Jobs;
using Lwf.Silo;
using Microsoft.Extensions.DependencyInjection;

namespace Lwf.Grains.Tests;

/// <summary>What happens to a job beyond running to its end: cancelled, or its cluster gone and back.</summary>
public sealed class JobLifecycleTests
{
    /// <summary>The tiny job, 30 steps long, beside the original (its paths are relative); deleted by the caller.</summary>
    private static string LongTinyJob()
    {
        string job = Repo.Path("cluster", "jobs", $".lifecycle-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(job, File.ReadAllText(Repo.Path("cluster", "jobs", "tiny-lwf.yaml")).Replace("steps: 12", "steps: 30"));
        return job;
    }

    // The tiny job sums gradients in float64 (float64 on the wire): the weights of one process, byte for byte.
    private static Dictionary<string, string?> Settings => new() { ["Lwf:ShardsPerJob"] = "2", ["Lwf:ResumeCheckSeconds"] = "1", ["Logging:LogLevel:Lwf"] = "Information" };

    private static async Task<JobStatus> WaitFor(ITrainerGrain trainer, Func<JobStatus, bool> done, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        var status = await trainer.GetStatus();
        while (!done(status) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            status = await trainer.GetStatus();
        }
        return status;
    }

    [Fact]
    public async Task A_cancelled_job_stops_keeps_its_checkpoints_is_not_resumed_by_itself_and_goes_on_when_asked()
    {
        string job = LongTinyJob();
        try
        {
            string checkpoints = Repo.NewTempDir();
            await using var cluster = await LocalCluster.StartAsync(2, checkpoints, settings: Settings);
            var trainer = cluster.Client.GetGrain<ITrainerGrain>("cancel-me");
            await trainer.Submit(new JobRequest(job));
            var running = await WaitFor(trainer, s => s.CheckpointStep >= 4 || s.Phase.IsFinal(), TimeSpan.FromMinutes(3));
            Assert.Equal(JobPhase.Training, running.Phase);

            await trainer.Cancel();
            var cancelled = await WaitFor(trainer, s => s.Phase.IsFinal(), TimeSpan.FromMinutes(1));
            Assert.Equal(JobPhase.Cancelled, cancelled.Phase);
            Assert.True(cancelled.Step < 30, $"stopped at step {cancelled.Step}");
            // As `lwf train`'s ^C: the step in flight finishes and a checkpoint is written where the job stopped.
            Assert.Equal(cancelled.Step, cancelled.CheckpointStep);
            Assert.Equal($"cancelled after learning step {cancelled.Step}; checkpoint-{cancelled.Step} written there", cancelled.Message);
            var store = new CheckpointStore(Path.Combine(checkpoints, "cancel-me"));
            Assert.Contains(cancelled.CheckpointStep!.Value, store.Steps());
            Assert.Null(CheckpointStore.Verify(store.PathOf(cancelled.CheckpointStep.Value), out _));

            await Task.Delay(TimeSpan.FromSeconds(3)); // three watchdog rounds: nothing resumes a cancelled job
            var later = await trainer.GetStatus();
            Assert.Equal(JobPhase.Cancelled, later.Phase);
            Assert.Equal(cancelled.Step, later.Step);

            // `lwf resume`: it goes on from where it stopped and ends done, every learning step in its report once.
            var resuming = await trainer.Resume();
            Assert.Equal(JobPhase.Pending, resuming.Phase);
            var done = await WaitFor(trainer, s => s.Phase.IsFinal(), TimeSpan.FromMinutes(3));
            Assert.True(done.Phase == JobPhase.Done, $"{done.Phase}: {done.Message}");
            var report = Lwf.Core.Reports.LwfReport.Load(Path.Combine(checkpoints, "cancel-me", "results", "report.json"));
            Assert.Equal(Enumerable.Range(1, 30), report.LearningLoss.Select(l => l.Step));
            Assert.Single(report.Notes, n => n.StartsWith("resumed from", StringComparison.Ordinal));
            // Only a cancelled job is resumed: a done one is left as it is, and an id with no job is no job.
            var again = await trainer.Resume();
            Assert.Equal(JobPhase.Done, again.Phase);
            Assert.Equal("only a cancelled job is resumed; this one is done", again.Message);
            var nothing = await cluster.Client.GetGrain<ITrainerGrain>("no-such-job").Resume();
            Assert.Equal((JobPhase.Failed, "no job 'no-such-job'"), (nothing.Phase, nothing.Message));
        }
        finally
        {
            File.Delete(job);
        }
    }

    [Fact]
    public async Task A_trainer_whose_silo_goes_away_resumes_from_the_surviving_replicas_without_a_checkpoint_reload()
    {
        string job = LongTinyJob();
        try
        {
            string checkpoints = Repo.NewTempDir(), results = Repo.NewTempDir();
            await using (var cluster = await LocalCluster.StartAsync(3, checkpoints, settings: new Dictionary<string, string?>(Settings) { ["Lwf:ShardsPerJob"] = "3" }))
            {
                // Submitted through silo 1 (not the first, which holds the membership table): the trainer runs there.
                var trainer = cluster.Silos[1].Services.GetRequiredService<IClusterClient>().GetGrain<ITrainerGrain>("survivors");
                var submitted = await trainer.Submit(new JobRequest(job));
                Assert.Equal(cluster.Silos[1].Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToString(), submitted.TrainerSilo);
                var running = await WaitFor(trainer, s => s.CheckpointStep >= 4 && s.Step >= 6 || s.Phase.IsFinal(), TimeSpan.FromMinutes(3));
                // Mid-training: step 6 is followed at once by the refresh of D_U (refresh_every 6) and an evaluation.
                Assert.Contains(running.Phase, new[] { JobPhase.Training, JobPhase.Scoring, JobPhase.Evaluating });
                await cluster.Silos[1].StopAsync(); // the trainer hands over; replicas on silos 0 and 2 live on

                var resumed = cluster.Client.GetGrain<ITrainerGrain>("survivors");
                var done = await WaitFor(resumed, s => s.Phase.IsFinal(), TimeSpan.FromMinutes(5));
                Assert.True(done.Phase == JobPhase.Done, $"{done.Phase}: {done.Message}");
                Assert.NotEqual(submitted.TrainerSilo, done.TrainerSilo);
                await ClusterEquivalenceTests.RunOnCluster(cluster, "survivors", job, results);
            }
            var report = Lwf.Core.Reports.LwfReport.Load(Path.Combine(results, "report.json"));
            var note = Assert.Single(report.Notes, n => n.StartsWith("resumed from"));
            var match = System.Text.RegularExpressions.Regex.Match(note, @"^resumed from the surviving replicas at learning step (\d+) \(the newest checkpoint is at step (\d+)\)$");
            Assert.True(match.Success, note);
            Assert.True(int.Parse(match.Groups[1].Value) > int.Parse(match.Groups[2].Value), note); // steps no checkpoint held were not redone
            // Every step exactly once: the schedule's report has each learning step once, and the weights are one process's
            // (the shards of the silo that went away are summed on the others: float64 sums regrouped, within 1e-5).
            Assert.Equal(Enumerable.Range(1, 30), report.LearningLoss.Select(l => l.Step));
            var (single, alone) = OneProcessRuns.Of(job);
            Assert.Equal(alone.ForgettingRecords, report.ForgettingRecords);
            double difference = Lwf.Tests.TestSupport.MaxRelativeDifference(Path.Combine(single, "model"), Path.Combine(results, "model"));
            Assert.True(difference <= 1e-5, $"weights differ from one process by {difference:E2} relative");
        }
        finally
        {
            File.Delete(job);
        }
    }

    [Fact]
    public async Task A_cluster_restarted_on_the_same_volume_resumes_an_unfinished_job_to_the_weights_of_one_process()
    {
        string job = LongTinyJob();
        try
        {
            string checkpoints = Repo.NewTempDir();
            await using (var first = await LocalCluster.StartAsync(1, checkpoints, settings: Settings))
            {
                var trainer = first.Client.GetGrain<ITrainerGrain>("restart-me");
                await trainer.Submit(new JobRequest(job));
                var running = await WaitFor(trainer, s => s.CheckpointStep >= 4 || s.Phase.IsFinal(), TimeSpan.FromMinutes(3));
                Assert.Equal(JobPhase.Training, running.Phase);
            } // the silo shuts down mid-job: the trainer hands over, its record still says running

            string results = Repo.NewTempDir();
            await using (var second = await LocalCluster.StartAsync(2, checkpoints, settings: Settings))
            {
                // Nobody calls the trainer: the silos' watchdogs find the unfinished job and resume it.
                string record = Path.Combine(checkpoints, "restart-me", "job.json");
                var deadline = DateTime.UtcNow.AddMinutes(8); // CI runs the three test assemblies at once on two cores
                while (JobFolderStorage.Read<JobRecord>(record)?.Phase != JobPhase.Done && DateTime.UtcNow < deadline) await Task.Delay(250);
                var stored = JobFolderStorage.Read<JobRecord>(record);
                Assert.True(stored?.Phase == JobPhase.Done,
                    $"record: {stored?.Phase} (activation {stored?.Incarnation}); trainer: {await second.Client.GetGrain<ITrainerGrain>("restart-me").GetStatus()}");
                Assert.True(JobFolderStorage.Read<JobRecord>(record)!.Incarnation >= 2); // a silo shutting down may hand over to another first
                var status = await ClusterEquivalenceTests.RunOnCluster(second, "restart-me", job, results);
                Assert.Equal(JobPhase.Done, status.Phase);
            }
            string report = File.ReadAllText(Path.Combine(results, "report.json"));
            Assert.Contains("resumed from", report);
            string single = OneProcessRuns.Of(job).Dir;
            Assert.Equal(File.ReadAllBytes(Path.Combine(single, "model", "model.safetensors")),
                File.ReadAllBytes(Path.Combine(results, "model", "model.safetensors")));
        }
        finally
        {
            File.Delete(job);
        }
    }
}
