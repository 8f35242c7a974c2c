namespace Lwf.Core.Checkpoints;

/// <summary>A checkpoint that passed its checks: the folder and its manifest.</summary>
public sealed record Checkpoint(string Directory, CheckpointManifest Manifest)
{
    public string File(string relativePath) => Path.Combine(Directory, relativePath);
}
