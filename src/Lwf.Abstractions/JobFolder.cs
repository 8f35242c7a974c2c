namespace Lwf.Abstractions;

/// <summary>A job's folder on the checkpoint volume: its id, when it was submitted, and the bytes it holds (checkpoints, inputs, results, log).</summary>
[GenerateSerializer, Immutable]
public sealed record JobFolder([property: Id(0)] string JobId, [property: Id(1)] DateTimeOffset Submitted, [property: Id(2)] long Bytes);
