namespace Lwf.Core.Checkpoints;

/// <summary>manifest.json: written last, so a checkpoint folder with a manifest is a whole one.</summary>
public sealed record CheckpointManifest(int Format, int Step, string Job, string JobFingerprint, DateTimeOffset Written, IReadOnlyList<CheckpointFile> Files);
