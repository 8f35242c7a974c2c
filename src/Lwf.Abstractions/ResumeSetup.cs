namespace Lwf.Abstractions;

/// <summary>Where a job's replicas start from when it is resumed: a checkpoint folder and the steps it holds.</summary>
[GenerateSerializer, Immutable]
public sealed record ResumeSetup(
    [property: Id(0)] string Directory,
    [property: Id(1)] int LearningSteps,
    [property: Id(2)] int ForgettingSteps,
    [property: Id(3)] bool HasFisher);
