using System.Text.Json.Serialization;
using Lwf.Core.Evaluation;

namespace Lwf.Core.Reports;

public sealed record LossPoint(int Step, double Loss);
