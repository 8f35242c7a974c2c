namespace Lwf.Abstractions;

public static class JobPhases
{
    public static bool IsFinal(this JobPhase phase) => phase is JobPhase.Done or JobPhase.Failed or JobPhase.Cancelled;
}
