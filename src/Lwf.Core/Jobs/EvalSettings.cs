namespace Lwf.Core.Jobs;

/// <param name="Before">
/// Evaluate the model before the first step. A grid runs every variant of a seed from the same base model on the same
/// sets, so one variant's "before" serves them all and the others skip it.
/// </param>
public sealed record EvalSettings(int EvalEvery = 0, int MaxNewTokens = 16, int BatchSize = 16, bool Before = true);
