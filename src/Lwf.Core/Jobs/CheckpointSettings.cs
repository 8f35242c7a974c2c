namespace Lwf.Core.Jobs;

/// <summary>A checkpoint every <c>Every</c> learning steps (0: only at the end) and at the end; the newest <c>Keep</c> stay on disk.</summary>
/// <param name="Save">
/// False: no checkpoint at all, so the run cannot be resumed (a grid's runs: each is short, reruns whole, and its
/// checkpoints were deleted unread).
/// </param>
public sealed record CheckpointSettings(int Every = 100, int Keep = 2, bool Save = true);
