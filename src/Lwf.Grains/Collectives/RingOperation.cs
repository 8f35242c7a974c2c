namespace Lwf.Grains.Collectives;

/// <summary>What the coordinator asks of the ring; its name (<see cref="FrameKeys.Name"/>) begins the operation's id and its frames' keys.</summary>
public enum RingOperation
{
    SelfGeneration,
    Scoring,
    Fisher,
    Learn,
    Check,
    Evaluate,
    Save,
}
