namespace Lwf.Core.Training;

/// <summary>
/// A gradient's totals: the learning records' NLL sum and loss tokens, the real (unpadded) tokens of every record,
/// and the forgetting records' NLL sum and response tokens. A step divides its gradient by <see cref="Divisor"/>:
/// every loss token of the step, learning and forgetting alike, counts once in its mean.
/// </summary>
public readonly record struct GradientTotals(double NllSum, long LossTokens, long InputTokens, double ForgetNllSum = 0, long ForgetTokens = 0)
{
    /// <summary>What the step's summed gradient is divided by.</summary>
    public long Divisor => LossTokens + ForgetTokens;

    public static GradientTotals operator +(GradientTotals a, GradientTotals b) =>
        new(a.NllSum + b.NllSum, a.LossTokens + b.LossTokens, a.InputTokens + b.InputTokens, a.ForgetNllSum + b.ForgetNllSum, a.ForgetTokens + b.ForgetTokens);
}
