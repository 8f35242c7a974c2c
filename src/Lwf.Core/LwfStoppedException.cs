namespace Lwf.Core;

/// <summary>
/// The user asked a run to stop (^C) and it did, at a step boundary: <see cref="Step"/> steps taken, and the checkpoint
/// written there (null when the run had none to write: before its first step, or with save_strategy "no").
/// </summary>
public sealed class LwfStoppedException(int step, int totalSteps, string? checkpoint)
    : Exception($"stopped after learning step {step} of {totalSteps}")
{
    public int Step { get; } = step;
    public int TotalSteps { get; } = totalSteps;
    public string? Checkpoint { get; } = checkpoint;
}
