namespace Lwf.Core.Jobs;

/// <summary>One choice of the forgetting set: when (null: before training), every sample's score, how many were kept, the Fisher's mean and largest entry.</summary>
public sealed record ForgettingChoice(int? AtStep, IReadOnlyList<double> Scores, int Selected, double? FisherMean, double? FisherMax);
