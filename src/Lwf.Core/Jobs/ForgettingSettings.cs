using Lwf.Core.Forgetting;
using Lwf.Core.Training;

namespace Lwf.Core.Jobs;

/// <summary>
/// The forgetting section: how samples are scored and D_U chosen, and how its records join the learning steps. The
/// defaults are the grid's choice at this scale (docs/results.md): a job that says only `forgetting: {scorer: fisher}`
/// gets them.
/// </summary>
public sealed record ForgettingSettings
{
    /// <summary>Forgetting records per learning record (the authors' portion 0.25): one after every 4 learning records.</summary>
    public const double DefaultPortion = 0.25;

    public ForgettingScorer Scorer { get; init; } = ForgettingScorer.Fisher;
    public ForgettingSelection Selection { get; init; } = new(Fraction: 0.5);
    public ForgettingArrangement Arrange { get; init; } = ForgettingArrangement.Interleave;
    public double Portion { get; init; } = DefaultPortion;
    public int RefreshEvery { get; init; }
    public ForgettingLoss Loss { get; init; } = new();

    /// <summary>Whether any forgetting happens at all (arrange none and α = 0 are plain fine-tuning).</summary>
    public bool Active => Arrange != ForgettingArrangement.None && Loss.Alpha != 0;

    /// <summary>How many forgetting records each learning step of <paramref name="train"/> carries.</summary>
    public ForgettingStream Stream(FineTuneOptions train) =>
        new(Active ? Arrange : ForgettingArrangement.None, Portion, train.GlobalBatchSize, train.Steps);
}
