namespace Lwf.Abstractions;

[GenerateSerializer, Immutable]
public sealed record ShardInfo(
    [property: Id(0)] int ShardIndex,
    [property: Id(1)] string Silo,
    [property: Id(2)] int LearningRecords,
    [property: Id(3)] int ForgettingPrompts,
    [property: Id(4)] int Samples,
    [property: Id(5)] string DataPlane,
    [property: Id(6)] long Parameters);
