namespace Lwf.Abstractions;

/// <summary>What a shard needs to load its part of a job (and, if its silo has no replica yet, where the replica starts from).</summary>
[GenerateSerializer, Immutable]
public sealed record ShardSetup(
    [property: Id(0)] string JobFile,
    [property: Id(1)] int ShardIndex,
    [property: Id(2)] int ShardCount,
    [property: Id(3)] string WorkDirectory,
    [property: Id(4)] ResumeSetup? Resume);
