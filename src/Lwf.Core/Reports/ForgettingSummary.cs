namespace Lwf.Core.Reports;

/// <summary>What the forgetting stage chose: every sample's score, how many were kept, the cut; and how D_U's records were trained on.</summary>
public sealed record ForgettingSummary(string Scorer, string Arrange, string Loss, double Alpha, double Portion, int SelfGenerated, int Selected, double? Cut, double[] Scores);
