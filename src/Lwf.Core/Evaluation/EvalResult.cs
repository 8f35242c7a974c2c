namespace Lwf.Core.Evaluation;

/// <summary>A metric of one evaluation set: accuracy, exact_match or perplexity.</summary>
public sealed record EvalResult(string Set, string Metric, double Value, int Count);
