namespace Lwf.Core.Reports;

/// <summary>A learning step's wall time and the input tokens (padding left out) it processed: tokens/s per step.</summary>
public sealed record StepTime(int Step, double Seconds, long InputTokens);
