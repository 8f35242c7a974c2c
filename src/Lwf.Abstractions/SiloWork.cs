namespace Lwf.Abstractions;

/// <summary>
/// A silo's part of one collective operation: the learning records (or Fisher records) by global index, the step's
/// forgetting records (global sample indices; empty for vanilla and for Fisher), its shards (in the order they add up), the ring,
/// and the silos whose death ends the operation at once (the ring's members and the coordinator's silo: with the
/// coordinator gone, no one would abort it, and its ring would wait out the collective's timeout).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SiloWork(
    [property: Id(0)] string OperationId,
    [property: Id(1)] WorkKind Kind,
    [property: Id(2)] int[] Indices,
    [property: Id(3)] int[] LocalShards,
    [property: Id(4)] RingLayout Ring,
    [property: Id(5)] int[] SampleIndices,
    [property: Id(6)] string[] Involved);
