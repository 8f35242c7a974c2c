namespace Lwf.Core.Reports;

/// <summary>One run of a comparison: its name, its report, its wall time.</summary>
public sealed record ComparedRun(string Name, LwfReport Report, double WallSeconds)
{
    /// <summary>The value of an evaluation set's metric after training (NaN when the run has no such set).</summary>
    public double After(string set) => Report.FinalValue(set);

    public string Metric(string set) => Report.Final(set)?.Metric ?? "";
}
