namespace Lwf.Abstractions;

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
