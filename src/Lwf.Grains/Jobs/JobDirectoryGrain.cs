using Lwf.Abstractions;
using Lwf.Grains.Security;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Lwf.Grains.Jobs;

/// <summary>Every job on the checkpoint volume (the trainers' records), oldest first: any silo can answer.</summary>
[StatelessWorker]
public sealed class JobDirectoryGrain(IOptions<LwfSiloOptions> options) : Grain, IJobDirectoryGrain
{
    public ValueTask<string[]> List() => new(Reachable().Select(r => r.JobId).ToArray());

    public ValueTask<JobFolder[]> Folders() =>
        new(Reachable().Select(r => new JobFolder(r.JobId, r.Record.Submitted,
            FolderBytes(Path.Combine(options.Value.CheckpointDirectory, r.JobId)), r.Record.Owner)).ToArray());

    /// <summary>The jobs the caller may see: its own (a tenant), or all (an operator, the cluster itself, a cluster without TLS).</summary>
    private IEnumerable<(string JobId, JobRecord Record)> Reachable()
    {
        var caller = ClientIdentity.Caller;
        return JobWatchdog.Records(options.Value.CheckpointDirectory).Where(r => caller is null || caller.MayReach(r.Record.Owner));
    }

    /// <summary>The bytes of every file under the folder (0 when it is gone).</summary>
    public static long FolderBytes(string folder)
    {
        try
        {
            return Directory.Exists(folder) ? new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) : 0;
        }
        catch (IOException)
        {
            return 0; // a file went while it was counted: the next listing counts again
        }
    }
}
