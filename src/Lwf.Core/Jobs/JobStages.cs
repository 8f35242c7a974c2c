namespace Lwf.Core.Jobs;

/// <summary>The one place where a <see cref="JobStage"/> gets its name.</summary>
public static class JobStages
{
    public static string Name(this JobStage stage) => stage switch
    {
        JobStage.Load => "load",
        JobStage.Evaluation => "evaluation",
        JobStage.SelfGeneration => "self-generation",
        JobStage.Fisher => "fisher",
        JobStage.Confidence => "confidence",
        JobStage.Scoring => "fisher-and-confidence",
        JobStage.Training => "training",
        JobStage.Checkpoint => "checkpoint",
        JobStage.Write => "write",
        JobStage.Pretraining => "pretraining",
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, null),
    };
}
