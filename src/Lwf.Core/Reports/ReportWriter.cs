using Lwf.Core.IO;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Lwf.Core.Checkpoints;
using ScottPlot;

namespace Lwf.Core.Reports;

/// <summary>report.json, report.md and the PNG plots of a run.</summary>
public static class ReportWriter
{
    public const string ReportFile = "report.json";
    public const string LossPlot = "loss-curves.png";
    public const string ConfidencePlot = "confidence-histogram.png";

    public static void Write(LwfReport report, string dir)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.WriteText(Path.Combine(dir, ReportFile), JsonSerializer.Serialize(report, CheckpointStore.Json));
        AtomicFile.WriteText(Path.Combine(dir, "report.md"), Markdown(report));
        DrawLosses(report, Path.Combine(dir, LossPlot));
        if (report.Forgetting is { Scores.Length: > 0 } f) DrawConfidences(f, Path.Combine(dir, ConfidencePlot));
    }

    /// <summary>The before → after table, in the order the sets were evaluated.</summary>
    public static string Table(LwfReport report)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| set | metric | before | after | change |");
        sb.AppendLine("| --- | --- | ---: | ---: | ---: |");
        var before = report.Before?.Results ?? [];
        foreach (var after in report.After?.Results ?? [])
        {
            var b = before.FirstOrDefault(r => r.Set == after.Set && r.Metric == after.Metric);
            string change = b is null ? "" : F(after.Value - b.Value, signed: true);
            sb.AppendLine($"| {after.Set} ({after.Count}) | {Better.Marked(after.Set, after.Metric)} | {(b is null ? "" : F(b.Value))} | {F(after.Value)} | {change} |");
        }
        return sb.ToString();
    }

    private static string Markdown(LwfReport r)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# {r.Job}");
        sb.AppendLine();
        sb.AppendLine($"Model `{r.Model}` ({r.Parameters:N0} parameters): {r.LearningSteps} learning steps, carrying {r.ForgettingRecords} forgetting records.");
        sb.AppendLine();
        sb.Append(Table(r));
        sb.AppendLine();
        if (r.Forgetting is { } f)
        {
            sb.AppendLine($"Forgetting: scorer `{f.Scorer}`, arrange `{f.Arrange}`, portion {F(f.Portion)}, loss `{f.Loss}`, α = {F(f.Alpha)}; " +
                $"{f.Selected} of {f.SelfGenerated} self-generated samples forgotten{(f.Cut is { } cut ? $" (score ≥ {F(cut)})" : "")}.");
            sb.AppendLine();
            sb.AppendLine($"![forgetting confidence]({ConfidencePlot})");
            sb.AppendLine();
        }
        sb.AppendLine($"![loss curves]({LossPlot})");
        sb.AppendLine();
        if (r.LearningLoss.Count > 0) sb.AppendLine($"Learning loss: {F(r.LearningLoss[0].Loss)} at step 1 → {F(r.LearningLoss[^1].Loss)} at step {r.LearningLoss[^1].Step}.");
        if (r.StageSeconds.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("| stage | seconds |");
            sb.AppendLine("| --- | ---: |");
            foreach (var (stage, s) in r.StageSeconds) sb.AppendLine($"| {stage} | {s:F1} |");
        }
        foreach (var note in r.Notes) sb.AppendLine().AppendLine($"Note: {note}");
        return sb.ToString();
    }

    private static void DrawLosses(LwfReport r, string path)
    {
        var plot = new Plot();
        if (r.LearningLoss.Count > 0)
        {
            var learn = plot.Add.Scatter(r.LearningLoss.Select(p => (double)p.Step).ToArray(), r.LearningLoss.Select(p => p.Loss).ToArray());
            learn.LegendText = "learning loss (token NLL)";
            learn.MarkerSize = 0;
        }
        if (r.ForgettingLoss.Count > 0)
        {
            var forget = plot.Add.Scatter(r.ForgettingLoss.Select(p => (double)p.Step).ToArray(), r.ForgettingLoss.Select(p => p.Loss).ToArray());
            forget.LegendText = "forgetting records' NLL (in each step, before it)";
            forget.MarkerSize = 0;
        }
        plot.Title($"{r.Job}: losses");
        plot.XLabel("learning step");
        plot.YLabel("mean token NLL");
        plot.ShowLegend(Edge.Bottom); // outside the data: inside, it covered part of a curve
        SavePng(plot, path);
    }

    private static void DrawConfidences(ForgettingSummary f, string path)
    {
        var plot = new Plot();
        var finite = f.Scores.Where(double.IsFinite).ToArray();
        if (finite.Length > 0)
        {
            double min = finite.Min(), max = finite.Max();
            if (max == min) { min -= 0.5; max += 0.5; }
            int bins = Math.Clamp((int)Math.Sqrt(finite.Length) * 2, 5, 60);
            var histogram = ScottPlot.Statistics.Histogram.WithBinCount(bins, min, max);
            histogram.AddRange(finite);
            var bars = plot.Add.Bars(histogram.Bins, histogram.Counts);
            foreach (var bar in bars.Bars) bar.Size = histogram.FirstBinSize * 0.95;
            if (f.Cut is { } cut)
            {
                var line = plot.Add.VerticalLine(cut);
                line.LegendText = $"cut: {f.Selected} of {f.SelfGenerated} forgotten";
                line.LineWidth = 2;
                line.Color = Colors.Red;
                plot.ShowLegend(Edge.Bottom);
            }
        }
        plot.Title($"forgetting confidence ({f.Scorer})");
        plot.XLabel("score (higher = forgotten first)");
        plot.YLabel("samples");
        SavePng(plot, path);
    }

    internal static void SavePng(Plot plot, string path)
    {
        string tmp = path + ".tmp.png";
        plot.SavePng(tmp, 800, 500);
        File.Move(tmp, path, overwrite: true);
    }

    private static string F(double v, bool signed = false) =>
        (signed && v > 0 ? "+" : "") + v.ToString(Math.Abs(v) >= 100 ? "F1" : "F4", CultureInfo.InvariantCulture);
}
