using Lwf.Abstractions;
using Lwf.Core.Checkpoints;
using Lwf.Core.Jobs;
using Lwf.Grains.Jobs;
using Lwf.Silo;

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

    private static Dictionary<string, string?> Settings => new() { ["Lwf:ShardsPerJob"] = "2", ["Lwf:ResumeCheckSeconds"] = "1", ["Logging:LogLevel:Lwf"] = "Information",
        ["Lwf:GradientWireDType"] = "float64" }; // float64 on the wire: the weights of one process, byte for byte

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
    public async Task A_cancelled_job_stops_keeps_its_checkpoints_and_is_never_resumed()
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
            Assert.Contains($"checkpoint is kept (step {cancelled.CheckpointStep})", cancelled.Message);
            var store = new CheckpointStore(Path.Combine(checkpoints, "cancel-me", "checkpoints"));
            Assert.Contains(cancelled.CheckpointStep!.Value, store.Steps());
            Assert.Null(CheckpointStore.Verify(store.PathOf(cancelled.CheckpointStep.Value), out _));

            await Task.Delay(TimeSpan.FromSeconds(3)); // three watchdog rounds: nothing resumes a cancelled job
            var later = await trainer.GetStatus();
            Assert.Equal(JobPhase.Cancelled, later.Phase);
            Assert.Equal(cancelled.Step, later.Step);
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
            string single = Repo.NewTempDir();
            new LwfJobRunner(JobSpec.Load(job)).Run(single);
            Assert.Equal(File.ReadAllBytes(Path.Combine(single, "model", "model.safetensors")),
                File.ReadAllBytes(Path.Combine(results, "model", "model.safetensors")));
        }
        finally
        {
            File.Delete(job);
        }
    }
}
