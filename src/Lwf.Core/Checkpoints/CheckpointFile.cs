namespace Lwf.Core.Checkpoints;

/// <summary>One file of a checkpoint, as its manifest lists it.</summary>
public sealed record CheckpointFile(string Path, long Bytes, string Sha256);
