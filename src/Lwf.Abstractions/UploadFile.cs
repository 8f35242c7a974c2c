namespace Lwf.Abstractions;

/// <summary>One file of an upload: its path under the job's folder ('/'-separated, relative) and its size.</summary>
[GenerateSerializer, Immutable]
public sealed record UploadFile([property: Id(0)] string Path, [property: Id(1)] long Bytes);
