namespace Lwf.Abstractions;

/// <summary>What the coordinator needs to lay a job out over the shards.</summary>
[GenerateSerializer, Immutable]
public sealed record JobSetup(
    [property: Id(0)] string JobFile,
    [property: Id(1)] int ShardCount,
    [property: Id(2)] string WorkDirectory,
    [property: Id(3)] ResumeSetup? Resume,
    // Set when a new trainer activation resumes the job because the last one's silo stopped: the time of the job
    // log's last line before, where the recovery timeline starts.
    [property: Id(4)] DateTimeOffset? StalledSince = null);
