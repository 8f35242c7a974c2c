using Lwf.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Lwf.Grains.Jobs;

/// <summary>Every job on the checkpoint volume (the trainers' records), oldest first: any silo can answer.</summary>
[StatelessWorker]
public sealed class JobDirectoryGrain(IOptions<LwfSiloOptions> options) : Grain, IJobDirectoryGrain
{
    public ValueTask<string[]> List() =>
        new(JobWatchdog.Records(options.Value.CheckpointDirectory).Select(r => r.JobId).ToArray());
}
