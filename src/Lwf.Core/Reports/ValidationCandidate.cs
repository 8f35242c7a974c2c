namespace Lwf.Core.Reports;

/// <summary>
/// One value of a setting (a learning rate, an α) tried on the validation split: the validation scores of its runs,
/// one per run (seed, pair).
/// </summary>
public sealed record ValidationCandidate(double Value, IReadOnlyList<double> Learn, IReadOnlyList<double> Forget, IReadOnlyList<double> HeldOut)
{
    public double MeanLearn => Learn.Count == 0 ? double.NaN : Learn.Average();
    public double MeanHeldOut => HeldOut.Count == 0 ? double.NaN : HeldOut.Average();
}
