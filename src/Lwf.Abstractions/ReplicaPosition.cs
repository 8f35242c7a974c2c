namespace Lwf.Abstractions;

/// <summary>Learning steps a replica has taken and whether it holds F: replicas that agree hold the same state.</summary>
[GenerateSerializer, Immutable]
public sealed record ReplicaPosition(
    [property: Id(0)] int LearningSteps,
    [property: Id(1)] bool HasFisher);
