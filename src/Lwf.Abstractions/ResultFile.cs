namespace Lwf.Abstractions;

/// <summary>A file of a finished job's results, fetched in chunks.</summary>
[GenerateSerializer, Immutable]
public sealed record ResultFile([property: Id(0)] string RelativePath, [property: Id(1)] long Length);
