namespace Lwf.Abstractions;

/// <summary>A reduced operation's totals over every silo (the same on each): ΣNLL, loss and input tokens, records; Fisher's mean and max.</summary>
[GenerateSerializer, Immutable]
public sealed record ReducedTotals(
    [property: Id(0)] double NllSum,
    [property: Id(1)] long LossTokens,
    [property: Id(2)] long InputTokens,
    [property: Id(3)] int Records,
    [property: Id(4)] double FisherMean = 0,
    [property: Id(5)] double FisherMax = 0);
