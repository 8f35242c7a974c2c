using Lwf.Abstractions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lwf.Grains.Jobs;

/// <summary>
/// Every silo, every few seconds, looks for jobs on the checkpoint volume that have not ended and calls
/// their trainers. A call to a running trainer is answered and changes nothing; a trainer whose silo died
/// (or a cluster restarted on the same volume) is activated by the call on a live silo, and its activation
/// resumes the job from the newest checkpoint. No reminder table is needed, and nothing here can die with
/// one silo.
/// </summary>
public sealed partial class JobWatchdog(IGrainFactory grains, IOptions<LwfSiloOptions> options, IHostApplicationLifetime lifetime, ILogger<JobWatchdog> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromSeconds(options.Value.ResumeCheckSeconds);
        if (period <= TimeSpan.Zero) return;
        using var timer = new PeriodicTimer(period);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            foreach (var jobId in UnfinishedJobs(options.Value.CheckpointDirectory))
            {
                // A stopping silo must not pull a trainer onto itself (or a peer that is stopping too).
                if (lifetime.ApplicationStopping.IsCancellationRequested) return;
                try
                {
                    await grains.GetGrain<ITrainerGrain>(jobId).GetStatus().AsTask().WaitAsync(period, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    LogUnreachable(logger, jobId, e.Message); // its silo is not declared dead yet: next tick
                }
            }
        }
    }

    /// <summary>The job ids whose record says they have not ended.</summary>
    public static IEnumerable<string> UnfinishedJobs(string checkpointDirectory) =>
        Records(checkpointDirectory).Where(r => !r.Record.Phase.IsFinal()).Select(r => r.JobId);

    /// <summary>Every job on the volume, oldest submit first.</summary>
    public static List<(string JobId, JobRecord Record)> Records(string checkpointDirectory)
    {
        if (!Directory.Exists(checkpointDirectory)) return [];
        var records = new List<(string, JobRecord)>();
        foreach (var dir in Directory.EnumerateDirectories(checkpointDirectory))
        {
            string id = Path.GetFileName(dir);
            if (!JobIds.IsValid(id)) continue;
            try
            {
                if (JobFolderStorage.Read<JobRecord>(JobFolderStorage.PathOf(checkpointDirectory, id, TrainerGrain.StateName)) is { } record)
                    records.Add((id, record));
            }
            catch (Exception e) when (e is IOException or System.Text.Json.JsonException) { } // being written: next time
        }
        return records.OrderBy(r => r.Item2.Submitted).ToList();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Job {JobId}: trainer not reachable yet ({Reason})")]
    private static partial void LogUnreachable(ILogger logger, string jobId, string reason);
}
