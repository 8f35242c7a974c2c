namespace Lwf.Abstractions;

/// <summary>
/// A job's folder on the checkpoint volume: its id, when it was submitted, the bytes it holds (checkpoints, inputs,
/// results, log) and the client that submitted it (null where none was told apart: a cluster without TLS).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record JobFolder([property: Id(0)] string JobId, [property: Id(1)] DateTimeOffset Submitted, [property: Id(2)] long Bytes,
    [property: Id(3)] string? Owner);
