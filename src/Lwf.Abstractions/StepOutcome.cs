namespace Lwf.Abstractions;

/// <summary>An applied step as a replica reports it (the forgetting records' mean NLL when it carried any).</summary>
[GenerateSerializer, Immutable]
public sealed record StepOutcome(
    [property: Id(0)] int Step,
    [property: Id(1)] double Loss,
    [property: Id(2)] double LearningRate,
    [property: Id(3)] double GradNorm,
    [property: Id(4)] long LossTokens,
    [property: Id(5)] long InputTokens,
    [property: Id(6)] int Records,
    [property: Id(7)] double? ForgettingLoss,
    [property: Id(8)] int ForgetRecords);
