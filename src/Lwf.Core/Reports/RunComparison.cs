using System.Text;
using ScottPlot;

namespace Lwf.Core.Reports;

/// <summary>One run of a comparison: its name, its report, its wall time.</summary>
public sealed record ComparedRun(string Name, LwfReport Report, double WallSeconds)
{
    /// <summary>The value of an evaluation set's metric after training (NaN when the run has no such set).</summary>
    public double After(string set) => Report.FinalValue(set);

    public string Metric(string set) => Report.Final(set)?.Metric ?? "";
}

/// <summary>Runs of one job side by side (`lwf demo`): a markdown table of the final metrics and a bar chart.</summary>
public static class RunComparison
{
    public static string Table(IReadOnlyList<ComparedRun> runs)
    {
        var first = runs[0];
        var sb = new StringBuilder();
        sb.AppendLine($"| run | learn {Better.Marked("learn", first.Metric("learn"))} | forget {Better.Marked("forget", first.Metric("forget"))} | " +
            $"held-out {Better.Marked("held-out", first.Metric("held-out"))} | wall time |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: |");
        // Every run starts from the same base model on the same data: its level before training, once, for the changes to read against.
        if (first.Report.Before is not null)
            sb.AppendLine($"| base model, before | {first.Report.ValueBefore("learn"):F4} | {first.Report.ValueBefore("forget"):F4} | {first.Report.ValueBefore("held-out"):F1} | – |");
        foreach (var run in runs)
            sb.AppendLine($"| {run.Name} | {run.After("learn"):F4} | {run.After("forget"):F4} | {run.After("held-out"):F1} | {run.WallSeconds:F0} s |");
        return sb.ToString();
    }

    /// <summary>Learning and forgetting metric per run, as grouped bars.</summary>
    public static void Plot(IReadOnlyList<ComparedRun> runs, string title, string path)
    {
        var plot = new Plot();
        var sets = new[] { ("learn", Colors.C0), ("forget", Colors.C1) };
        for (int s = 0; s < sets.Length; s++)
        {
            var (set, color) = sets[s];
            var bars = runs.Select((run, i) => new Bar { Position = i * 3 + s, Value = run.After(set), FillColor = color }).ToArray();
            plot.Add.Bars(bars).LegendText = $"{set} {runs[0].Metric(set)}";
        }
        plot.Axes.Bottom.SetTicks(runs.Select((_, i) => i * 3 + 0.5).ToArray(), runs.Select(r => r.Name).ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.ShowLegend(Edge.Bottom);
        ReportWriter.SavePng(plot, path);
    }
}
