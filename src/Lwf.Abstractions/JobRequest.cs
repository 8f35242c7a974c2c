namespace Lwf.Abstractions;

/// <summary>A job as submitted: the job file's path on the cluster (under its data root, or where its upload put it).</summary>
[GenerateSerializer, Immutable]
public sealed record JobRequest([property: Id(0)] string JobFile);
