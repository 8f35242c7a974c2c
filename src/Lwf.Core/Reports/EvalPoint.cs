using Lwf.Core.Evaluation;

namespace Lwf.Core.Reports;

public sealed record EvalPoint(int Step, string Phase, IReadOnlyList<EvalResult> Results);
