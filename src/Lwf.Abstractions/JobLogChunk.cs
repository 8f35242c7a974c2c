namespace Lwf.Abstractions;

/// <summary>A piece of a job's log (job.log) from an offset, and the offset of what follows it.</summary>
[GenerateSerializer, Immutable]
public sealed record JobLogChunk([property: Id(0)] string Text, [property: Id(1)] long Next);
