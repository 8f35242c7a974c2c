namespace Lwf.Core.Forgetting;

/// <summary>When forgetting steps are taken relative to the learning steps.</summary>
public enum ForgettingSchedule
{
    /// <summary>One forgetting step after every <c>forgetEvery</c> learning steps (the default).</summary>
    Periodic,
    /// <summary>All forgetting steps first, then all learning steps (the paper's ablation).</summary>
    Ahead,
    /// <summary>No forgetting: vanilla fine-tuning, bit-identical to α = 0.</summary>
    None,
}

public static class ForgettingScheduleExtensions
{
    /// <summary>How many forgetting steps a run of <paramref name="learningSteps"/> takes (the same for periodic and ahead).</summary>
    public static int ForgettingSteps(this ForgettingSchedule schedule, int learningSteps, int forgetEvery, double alpha) =>
        schedule == ForgettingSchedule.None || alpha == 0 ? 0 : learningSteps / forgetEvery;

    /// <summary>Whether a forgetting step follows learning step <paramref name="step"/> (1-based).</summary>
    public static bool ForgetsAfter(this ForgettingSchedule schedule, int step, int forgetEvery, double alpha) =>
        schedule == ForgettingSchedule.Periodic && alpha != 0 && step % forgetEvery == 0;
}
