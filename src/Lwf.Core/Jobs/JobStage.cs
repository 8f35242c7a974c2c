namespace Lwf.Core.Jobs;

/// <summary>
/// A stage of a job, as progress reports it and as the report times it. Its name (<see cref="JobStages.Name"/>) is
/// what a person reads in the progress line and in the report's stage table.
/// </summary>
public enum JobStage
{
    Load,
    Evaluation,
    SelfGeneration,
    Fisher,
    Confidence,
    /// <summary>Fisher and confidence together, as the report times them (the choice of D_U).</summary>
    Scoring,
    Training,
    Checkpoint,
    Write,
    /// <summary>`lwf pretrain`: the base model.</summary>
    Pretraining,
}
