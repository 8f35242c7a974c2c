namespace Lwf.Abstractions;

[GenerateSerializer, Immutable]
public sealed record EvalOutcome(
    [property: Id(0)] int Index,
    [property: Id(1)] string Set,
    [property: Id(2)] string Metric,
    [property: Id(3)] double Value,
    [property: Id(4)] int Count);
