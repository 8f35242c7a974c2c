namespace Lwf.Core.Training;

/// <summary>
/// A learning step's outcome: the learning records' mean token NLL (<see cref="Loss"/>), and, when the step carried
/// forgetting records, their mean token NLL before the step (<see cref="ForgettingLoss"/>) and how many there were.
/// </summary>
public sealed record StepResult(int Step, double Loss, double LearningRate, double GradNorm, long LossTokens, long InputTokens, int Records,
    double? ForgettingLoss = null, int ForgetRecords = 0);
