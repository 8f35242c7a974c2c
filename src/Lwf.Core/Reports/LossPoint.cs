namespace Lwf.Core.Reports;

public sealed record LossPoint(int Step, double Loss);
