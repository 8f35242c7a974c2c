namespace Lwf.Core.Training;

/// <summary>
/// The multiplier of the learning rate for optimiser step s (counted from 0), as transformers' schedules
/// (get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup, get_constant_schedule[_with_warmup]).
/// </summary>
public static class LearningRateSchedule
{
    public static double Multiplier(int step, int warmupSteps, int totalSteps, LearningRateScheduler scheduler)
    {
        if (scheduler == LearningRateScheduler.Constant) return 1.0;
        if (step < warmupSteps) return (double)step / Math.Max(1, warmupSteps);
        double progress = (double)(step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps);
        return scheduler switch
        {
            LearningRateScheduler.Linear => Math.Max(0.0, 1.0 - progress),
            LearningRateScheduler.ConstantWithWarmup => 1.0,
            _ => Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress))),
        };
    }
}
