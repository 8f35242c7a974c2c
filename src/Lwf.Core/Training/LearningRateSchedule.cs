namespace Lwf.Core.Training;

/// <summary>
/// Linear warm-up then cosine decay to zero, as transformers' get_cosine_schedule_with_warmup:
/// the multiplier for optimiser step s (counted from 0).
/// </summary>
public static class LearningRateSchedule
{
    public static double Multiplier(int step, int warmupSteps, int totalSteps)
    {
        if (step < warmupSteps) return (double)step / Math.Max(1, warmupSteps);
        double progress = (double)(step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps);
        return Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress)));
    }
}
