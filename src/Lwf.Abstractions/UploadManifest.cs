namespace Lwf.Abstractions;

/// <summary>One file of an upload: its path under the job's folder ('/'-separated, relative) and its size.</summary>
[GenerateSerializer, Immutable]
public sealed record UploadFile([property: Id(0)] string Path, [property: Id(1)] long Bytes);

/// <summary>What `lwf submit` is about to upload: every file, and which of them is the job file.</summary>
[GenerateSerializer, Immutable]
public sealed record UploadManifest([property: Id(0)] string JobFile, [property: Id(1)] UploadFile[] Files);
