namespace Lwf.Abstractions;

/// <summary>The states of a job, in order (DESIGN.md §2).</summary>
public enum JobPhase
{
    Pending, Generating, Scoring, Training, Evaluating, Done, Failed, Cancelled,
}
