using Lwf.Core.Data;
using Lwf.Core.Generation;
using Lwf.Core.Models;
using Lwf.Core.Text;
using Lwf.Core.Training;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Lwf.Core.Evaluation;

/// <summary>A metric of one evaluation set: accuracy, exact_match or perplexity.</summary>
public sealed record EvalResult(string Set, string Metric, double Value, int Count);
