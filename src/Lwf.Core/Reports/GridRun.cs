namespace Lwf.Core.Reports;

/// <summary>One run of the grid: which pair, which way of running it, which seed, what it measured.</summary>
public sealed record GridRun(string Pair, string Variant, long Seed, LwfReport Report, double WallSeconds)
{
    public double Learn => Report.FinalValue("learn");
    public double Forget => Report.FinalValue("forget");
    public double HeldOut => Report.FinalValue("held-out");

    /// <summary>The base model's value on a set, evaluated before the run trained (NaN when not evaluated).</summary>
    public double Before(string set) => Report.ValueBefore(set);
}
