namespace Lwf.Abstractions;

/// <summary>
/// Where a job's replicas start from when it is resumed: a checkpoint folder and the steps it holds; or, with no
/// folder, the state the replicas that survived the trainer still hold at those steps (one of them must be there:
/// the others take its state).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ResumeSetup(
    [property: Id(0)] string? Directory,
    [property: Id(1)] int LearningSteps,
    [property: Id(2)] bool HasFisher);
