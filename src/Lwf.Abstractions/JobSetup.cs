namespace Lwf.Abstractions;

/// <summary>What the coordinator needs to lay a job out over the shards.</summary>
[GenerateSerializer, Immutable]
public sealed record JobSetup(
    [property: Id(0)] string JobFile,
    [property: Id(1)] int ShardCount,
    [property: Id(2)] string WorkDirectory,
    [property: Id(3)] ResumeSetup? Resume);
