namespace Lwf.Abstractions;

[GenerateSerializer, Immutable]
public sealed record FisherSummary([property: Id(0)] double Mean, [property: Id(1)] double Max);
