namespace Lwf.Abstractions;

/// <summary>What `lwf submit` is about to upload: every file, and which of them is the job file.</summary>
[GenerateSerializer, Immutable]
public sealed record UploadManifest([property: Id(0)] string JobFile, [property: Id(1)] UploadFile[] Files);
