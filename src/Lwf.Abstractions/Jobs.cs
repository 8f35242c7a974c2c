namespace Lwf.Abstractions;

/// <summary>The states of a job, in order (DESIGN.md §2).</summary>
public enum JobPhase
{
    Pending, Generating, Scoring, Training, Evaluating, Done, Failed, Cancelled,
}

public static class JobPhases
{
    public static bool IsFinal(this JobPhase phase) => phase is JobPhase.Done or JobPhase.Failed or JobPhase.Cancelled;
}

/// <summary>A job as submitted: the job file's path on the cluster (under its data root, or where its upload put it).</summary>
[GenerateSerializer, Immutable]
public sealed record JobRequest([property: Id(0)] string JobFile);

/// <summary>Where a job stands; what `lwf watch` and `lwf status` print.</summary>
[GenerateSerializer, Immutable]
public sealed record JobStatus(
    [property: Id(0)] string JobId,
    [property: Id(1)] JobPhase Phase,
    [property: Id(2)] int Step,
    [property: Id(3)] int TotalSteps,
    [property: Id(4)] double? LearningLoss,
    [property: Id(5)] double? ForgettingLoss,
    [property: Id(6)] double TokensPerSecond, // loss tokens; InputTokensPerSecond counts every real input token
    [property: Id(7)] string? Message,
    [property: Id(8)] IReadOnlyDictionary<string, int> ShardsPerSilo,
    [property: Id(9)] string? ResultTable,
    [property: Id(10)] string? TrainerSilo = null,
    [property: Id(11)] int? CheckpointStep = null,
    [property: Id(12)] double InputTokensPerSecond = 0);

/// <summary>A file of a finished job's results, fetched in chunks.</summary>
[GenerateSerializer, Immutable]
public sealed record ResultFile([property: Id(0)] string RelativePath, [property: Id(1)] long Length);
