using System.Diagnostics;
using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Evaluation;
using Lwf.Core.Forgetting;
using Lwf.Core.Replicas;
using Lwf.Core.Reports;
using Lwf.Core.Text;
using Lwf.Core.Training;

namespace Lwf.Core.Jobs;

/// <summary>Progress of a stage: Done of Total units (records, samples, steps).</summary>
public sealed record ProgressUpdate(string Stage, long Done, long Total, string? Detail = null);
