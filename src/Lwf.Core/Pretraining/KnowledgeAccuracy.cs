namespace Lwf.Core.Pretraining;

/// <summary>
/// How well the base model knows one forgetting task's knowledge: the task's multiple-choice accuracy on its
/// evaluation records (built with the pretraining seed) before and after pretraining, against chance.
/// </summary>
public sealed record KnowledgeAccuracy(string Task, int TrainWindows, int Records, double Chance, double Before, double After);
