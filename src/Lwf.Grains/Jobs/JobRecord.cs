using Lwf.Abstractions;

namespace Lwf.Grains.Jobs;

/// <summary>
/// A submitted job as its trainer keeps it (job.json in the job's folder): the request, how many trainer
/// activations have run it, and once it has ended, its final status. A record that has not ended is a job
/// to resume: whichever silo re-activates the trainer goes on from the newest checkpoint.
/// </summary>
[GenerateSerializer]
public sealed class JobRecord
{
    [Id(0)] public string JobFile { get; set; } = "";
    [Id(1)] public DateTimeOffset Submitted { get; set; }
    /// <summary>Trainer activations that have run the job (1 for the first; each resume adds one).</summary>
    [Id(2)] public int Incarnation { get; set; }
    [Id(3)] public JobPhase Phase { get; set; }
    [Id(4)] public JobStatus? Final { get; set; }
    /// <summary>Fixed at the first start: shard i owns the records and samples with index ≡ i (mod Shards), on any silo, in any activation.</summary>
    [Id(5)] public int Shards { get; set; }
    /// <summary>The client that submitted the job (its certificate's subject; null on a cluster without TLS, or from the cluster itself).</summary>
    [Id(6)] public string? Owner { get; set; }
}
