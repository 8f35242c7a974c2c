using System.Text.Json.Serialization;
using Lwf.Core.Evaluation;

namespace Lwf.Core.Reports;

/// <summary>Everything a run measured; written as report.json and report.md and drawn as plots.</summary>
public sealed class LwfReport
{
    public string Job { get; set; } = "";
    public string Model { get; set; } = "";
    public long Parameters { get; set; }
    public int LearningSteps { get; set; }
    /// <summary>Forgetting records the learning steps carried (each counted every time it was trained on).</summary>
    public int ForgettingRecords { get; set; }
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public List<EvalPoint> Evaluations { get; } = [];
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public List<LossPoint> LearningLoss { get; } = [];
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public List<LossPoint> ForgettingLoss { get; } = [];
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public List<StepTime> StepTimes { get; } = [];
    public ForgettingSummary? Forgetting { get; set; }
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public Dictionary<string, double> StageSeconds { get; } = [];
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public List<string> Notes { get; } = [];

    public EvalPoint? Before => Evaluations.FirstOrDefault(e => e.Phase == "before");
    public EvalPoint? After => Evaluations.LastOrDefault(e => e.Phase == "after");

    /// <summary>The last evaluation's result on a set (null when the run has no such set).</summary>
    public EvalResult? Final(string set) => Evaluations.LastOrDefault()?.Results.FirstOrDefault(r => r.Set == set);

    /// <summary>The last evaluation's value on a set (NaN when the run has no such set).</summary>
    public double FinalValue(string set) => Final(set)?.Value ?? double.NaN;

    /// <summary>The base model's value on a set, evaluated before the run trained (NaN when not evaluated).</summary>
    public double ValueBefore(string set) => Before?.Results.FirstOrDefault(r => r.Set == set)?.Value ?? double.NaN;

    /// <summary>Reads a run's report.json (as <see cref="ReportWriter"/> writes it).</summary>
    public static LwfReport Load(string path)
    {
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize<LwfReport>(File.ReadAllText(path), Checkpoints.CheckpointStore.Json)
                ?? throw new LwfInputException($"{path}: empty report");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new LwfInputException($"{path}: not a report ({e.Message})");
        }
    }
}
