namespace Lwf.Core.Jobs;

/// <summary>
/// Progress of a stage: Done of Total units (records, samples, steps). <see cref="Part"/> tells one run of a stage
/// from another ("before", "during", "after" for an evaluation); <see cref="Detail"/> is shown after the counts.
/// </summary>
public sealed record ProgressUpdate(JobStage Stage, long Done, long Total, string? Detail = null, string? Part = null)
{
    /// <summary>What a person reads: "self-generation", "evaluation (before)".</summary>
    public string Label => Part is null ? Stage.Name() : $"{Stage.Name()} ({Part})";
}
