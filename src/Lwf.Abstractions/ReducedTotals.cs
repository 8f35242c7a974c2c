namespace Lwf.Abstractions;

/// <summary>
/// A reduced operation's totals over every silo (the same on each): the learning records' ΣNLL, loss tokens, input
/// tokens and count; Fisher's mean and max; the forgetting records' ΣNLL, response tokens and count.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ReducedTotals(
    [property: Id(0)] double NllSum,
    [property: Id(1)] long LossTokens,
    [property: Id(2)] long InputTokens,
    [property: Id(3)] int Records,
    [property: Id(4)] double FisherMean = 0,
    [property: Id(5)] double FisherMax = 0,
    [property: Id(6)] double ForgetNllSum = 0,
    [property: Id(7)] long ForgetTokens = 0,
    [property: Id(8)] int ForgetRecords = 0);
