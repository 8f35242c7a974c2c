namespace Lwf.Abstractions;

[GenerateSerializer, Immutable]
public sealed record PreparedJob(
    [property: Id(0)] int LearningRecords,
    [property: Id(1)] long Parameters,
    [property: Id(2)] IReadOnlyDictionary<string, int> ShardsPerSilo);
