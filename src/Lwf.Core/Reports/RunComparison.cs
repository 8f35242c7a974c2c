using System.Text;
using ScottPlot;

namespace Lwf.Core.Reports;

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

    /// <summary>
    /// Two panels: the learning and forgetting metric per run as grouped bars, and held-out perplexity per run; each
    /// with the base model's level before training as a dashed line of its colour, so a bar reads as a change. The
    /// legends sit below the data, outside it, so they never cover a bar.
    /// </summary>
    public static void Plot(IReadOnlyList<ComparedRun> runs, string title, string path)
    {
        var first = runs[0];
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();

        var metrics = multiplot.GetPlot(0);
        var sets = new[] { ("learn", Colors.C0), ("forget", Colors.C1) };
        for (int s = 0; s < sets.Length; s++)
        {
            var (set, color) = sets[s];
            var bars = runs.Select((run, i) => new Bar { Position = i * 3 + s, Value = run.After(set), FillColor = color }).ToArray();
            metrics.Add.Bars(bars).LegendText = $"{set} {Better.Marked(set, first.Metric(set))}";
            if (first.Report.Before is not null) BaseLine(metrics, first.Report.ValueBefore(set), color, $"base model's {set}");
        }
        metrics.Axes.Bottom.SetTicks(runs.Select((_, i) => i * 3 + 0.5).ToArray(), runs.Select(r => r.Name).ToArray());
        metrics.Axes.Margins(bottom: 0);
        metrics.Title(title);
        metrics.ShowLegend(Edge.Bottom);

        var perplexity = multiplot.GetPlot(1);
        string metric = first.Metric("held-out");
        var ppl = runs.Select((run, i) => new Bar { Position = i, Value = run.After("held-out"), FillColor = Colors.C2 }).ToArray();
        perplexity.Add.Bars(ppl).LegendText = $"held-out {Better.Marked("held-out", metric)}";
        if (first.Report.Before is not null) BaseLine(perplexity, first.Report.ValueBefore("held-out"), Colors.C2, "base model's held-out");
        perplexity.Axes.Bottom.SetTicks(runs.Select((_, i) => (double)i).ToArray(), runs.Select(r => r.Name).ToArray());
        perplexity.Axes.Margins(bottom: 0);
        perplexity.Title($"held-out {metric}");
        perplexity.ShowLegend(Edge.Bottom);

        string tmp = path + ".tmp.png";
        multiplot.SavePng(tmp, 1200, 520);
        File.Move(tmp, path, overwrite: true);
    }

    private static void BaseLine(Plot plot, double value, Color color, string label)
    {
        if (!double.IsFinite(value)) return;
        var line = plot.Add.HorizontalLine(value, 2, color, LinePattern.Dashed);
        line.LegendText = label;
    }
}
