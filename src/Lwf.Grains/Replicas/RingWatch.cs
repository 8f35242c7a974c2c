using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lwf.Grains.Replicas;

/// <summary>
/// Per silo: when membership declares a silo dead, the collective in flight on this silo's replicas that involves
/// it (a ring member, or the coordinator that runs the ring) ends at once. Without this, a trainer's silo that died
/// mid-step left its ring's survivors waiting out the collective's timeout (5 minutes) before the resumed job could
/// prepare its shards: they were still busy with the dead coordinator's operation (measured 2026-12-07: resumed
/// 6 s after the kill, first step 4 min 54 s later).
/// </summary>
public sealed partial class RingWatch(IClusterMembershipService membership, ModelReplicas replicas, ILogger<RingWatch> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                var dead = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead).Select(m => m.SiloAddress.ToString()).ToHashSet();
                if (dead.Count == 0) continue;
                foreach (var (jobId, replica) in replicas.All())
                    if (replica.AbortInvolving(dead) is { } operation)
                        LogAborted(logger, jobId, operation);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: operation {Operation} aborted at once: a silo it involves was declared dead")]
    private static partial void LogAborted(ILogger logger, string jobId, string operation);
}
