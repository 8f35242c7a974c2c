using System.Globalization;
using System.Text;
using ScottPlot;

namespace Lwf.Core.Reports;

/// <summary>One run of the grid: which pair, which way of running it, which seed, what it measured.</summary>
public sealed record GridRun(string Pair, string Variant, long Seed, LwfReport Report, double WallSeconds)
{
    public double Learn => Report.FinalValue("learn");
    public double Forget => Report.FinalValue("forget");
    public double HeldOut => Report.FinalValue("held-out");

    /// <summary>The base model's value on a set, evaluated before the run trained (NaN when not evaluated).</summary>
    public double Before(string set) => Report.ValueBefore(set);
}

/// <summary>A mean and the sample standard deviation (n − 1) of a few numbers; NaN deviation for one number.</summary>
public readonly record struct MeanStd(double Mean, double Std, int Count)
{
    public static MeanStd Of(IEnumerable<double> values)
    {
        var v = values.ToArray();
        if (v.Length == 0) return new(double.NaN, double.NaN, 0);
        double mean = v.Average();
        double std = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)) : double.NaN;
        return new(mean, std, v.Length);
    }

    public string Format(string format) => double.IsNaN(Std)
        ? Mean.ToString(format, CultureInfo.InvariantCulture)
        : $"{Mean.ToString(format, CultureInfo.InvariantCulture)} ± {Std.ToString(format, CultureInfo.InvariantCulture)}";
}

/// <summary>
/// The results grid (`lwf experiment`): learning/forgetting pairs × ways of running them × seeds, summarised as
/// mean ± std over seeds, with paired differences against vanilla fine-tuning (the same seed shares the data
/// split and the base model, so the difference per seed is the fair comparison) and one plot per pair.
/// </summary>
public static class ResultsGrid
{
    /// <summary>The markdown's first line: how `lwf experiment` knows a file it may rewrite (its own, from an earlier invocation).</summary>
    public const string Title = "# Results: learning with forgetting at small scale";

    /// <summary>
    /// The variants' order in tables and plots: vanilla first, then as <see cref="Tasks.TaskPair.Variants"/> lists them,
    /// then lwf-fisher at other α (the dose response), by α.
    /// </summary>
    private static IEnumerable<string> VariantsOf(IEnumerable<GridRun> runs) =>
        runs.Select(r => r.Variant).Distinct().OrderBy(v => v == "vanilla" ? -1 : Tasks.TaskPair.Variants.ContainsKey(v)
            ? Tasks.TaskPair.Variants.Keys.ToList().IndexOf(v) : Tasks.TaskPair.Variants.Count).ThenBy(v => AlphaOf(runs.First(r => r.Variant == v)));

    /// <summary>The α a run trained with (0: vanilla).</summary>
    public static double AlphaOf(GridRun run) => run.Report.Forgetting?.Alpha ?? 0;

    /// <summary>
    /// The runs of the dose response: vanilla (α = 0) and every lwf-fisher run, whatever its α, on the seeds that every
    /// α ran on. Vanilla and the chosen α run on every seed and the other α on the first few: a mean over more seeds
    /// would compare the seeds, not the α.
    /// </summary>
    private static List<GridRun> DoseRuns(IEnumerable<GridRun> pairRuns)
    {
        var runs = pairRuns.Where(r => r.Variant == "vanilla" || r.Variant == Proposed || r.Variant.StartsWith(Tasks.TaskPair.AlphaVariantPrefix, StringComparison.Ordinal)).ToList();
        var seedsOfEvery = runs.GroupBy(AlphaOf).Select(g => g.Select(r => r.Seed).ToHashSet())
            .Aggregate((HashSet<long>?)null, (common, seeds) => { if (common is null) return seeds; common.IntersectWith(seeds); return common; });
        return runs.Where(r => seedsOfEvery?.Contains(r.Seed) == true).ToList();
    }

    /// <summary>Whether a pair ran lwf-fisher at more than one α (so it has a dose response to show).</summary>
    public static bool HasDoseResponse(IEnumerable<GridRun> pairRuns) => DoseRuns(pairRuns).Select(AlphaOf).Distinct().Count() >= 3;

    /// <summary>The dose-response plot beside a pair's plot: NAME.png → NAME-dose.png.</summary>
    public static string DoseFile(string plotFile) => Path.ChangeExtension(plotFile, null) + "-dose.png";

    /// <summary>
    /// Per seed, the run that evaluated the base model before training (the grid's vanilla run: every variant of a seed
    /// starts from the same base on the same sets, so the others skip it).
    /// </summary>
    public static List<GridRun> BaseRuns(IEnumerable<GridRun> pairRuns) =>
        pairRuns.GroupBy(r => r.Seed).Select(g => g.FirstOrDefault(r => r.Report.Before is not null)).OfType<GridRun>().ToList();

    /// <summary>Per seed, variant minus <paramref name="against"/> (vanilla by default) on one measure; seeds without both runs are left out.</summary>
    public static List<double> PairedDifferences(IReadOnlyList<GridRun> pairRuns, string variant, Func<GridRun, double> measure, string against = "vanilla") =>
        pairRuns.Where(r => r.Variant == variant)
            .Join(pairRuns.Where(r => r.Variant == against), r => r.Seed, v => v.Seed, (r, v) => measure(r) - measure(v))
            .ToList();

    /// <param name="choices">Markdown of how the settings were chosen on the validation split, placed before the tables; null: none.</param>
    public static string Markdown(IReadOnlyList<GridRun> runs, string command, IEnumerable<string> setup, Func<string, string> plotFileOf, string? choices = null)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Title);
        sb.AppendLine();
        sb.AppendLine("Regenerated by:");
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine(command);
        sb.AppendLine("```");
        sb.AppendLine();
        foreach (var line in setup) sb.AppendLine($"- {line}");
        sb.AppendLine();
        if (choices is not null)
        {
            sb.AppendLine("## Choices on the validation split");
            sb.AppendLine();
            sb.AppendLine(choices);
        }
        sb.AppendLine("Every number below was measured by that command in one run; mean ± sample standard deviation over the seeds. " +
            "`learn` is the learning task's metric on its evaluation (test) set (higher is better), `forget` the forgetting task's " +
            "multiple-choice accuracy on its evaluation (test) set (lower means more forgotten; four choices, so chance is 0.25), `held-out` the " +
            "perplexity on Brown-corpus text neither task uses (lower is better). Δ columns are paired per seed against vanilla fine-tuning " +
            "(same data split, same base model): the mean difference with its 95 % confidence interval in brackets (Student's t, n − 1 " +
            "degrees of freedom, n seeds), and how many seeds moved the wanted way.");
        sb.AppendLine();
        var reading = new List<string>();
        var tally = new List<(List<double> Learn, List<double> Forget, List<double> HeldOut)>();
        var baseLines = new List<string>();
        foreach (var pairRuns in runs.GroupBy(r => r.Pair))
        {
            var list = pairRuns.ToList();
            var first = list[0].Report;
            string learnMetric = first.Final("learn")?.Metric ?? "", forgetMetric = first.Final("forget")?.Metric ?? "";
            sb.AppendLine($"## {pairRuns.Key}");
            sb.AppendLine();
            sb.AppendLine($"| run | learn {Better.Marked("learn", learnMetric)} | forget {Better.Marked("forget", forgetMetric)} | held-out perplexity ↓ | forgetting records | wall time (s) | seeds |");
            sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            var bases = BaseRuns(list);
            sb.AppendLine($"| base model, before | {MeanStd.Of(bases.Select(r => r.Before("learn"))).Format("F3")} | " +
                $"{MeanStd.Of(bases.Select(r => r.Before("forget"))).Format("F3")} | {MeanStd.Of(bases.Select(r => r.Before("held-out"))).Format("F1")} | – | – | {bases.Count} |");
            foreach (var variant in VariantsOf(list))
            {
                var v = list.Where(r => r.Variant == variant).ToList();
                sb.AppendLine($"| {variant} | {MeanStd.Of(v.Select(r => r.Learn)).Format("F3")} | {MeanStd.Of(v.Select(r => r.Forget)).Format("F3")} | " +
                    $"{MeanStd.Of(v.Select(r => r.HeldOut)).Format("F1")} | {MeanStd.Of(v.Select(r => (double)r.Report.ForgettingRecords)).Format("F0")} | " +
                    $"{MeanStd.Of(v.Select(r => r.WallSeconds)).Format("F0")} | {v.Count} |");
            }
            sb.AppendLine();
            if (list.Any(r => r.Variant == "vanilla"))
            {
                sb.AppendLine("| against vanilla | Δ learn [95 % CI] | seeds up | Δ forget [95 % CI] | seeds down | Δ held-out perplexity [95 % CI] | seeds down |");
                sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
                foreach (var variant in VariantsOf(list).Where(v => v != "vanilla"))
                {
                    var dl = PairedDifferences(list, variant, r => r.Learn);
                    var df = PairedDifferences(list, variant, r => r.Forget);
                    var dp = PairedDifferences(list, variant, r => r.HeldOut);
                    PairedDifference l = PairedDifference.Of(dl, +1), f = PairedDifference.Of(df, -1), h = PairedDifference.Of(dp, -1);
                    sb.AppendLine($"| {variant} | {l.Format()} | {l.Wanted}/{l.Count} | {f.Format()} | {f.Wanted}/{f.Count} | {h.Format("F1")} | {h.Wanted}/{h.Count} |");
                    reading.Add(Reading(pairRuns.Key, variant, dl, df, dp));
                    tally.Add((dl, df, dp));
                }
                sb.AppendLine();
            }
            var vanillaRuns = list.Where(r => r.Variant == "vanilla").ToList();
            baseLines.Add($"{pairRuns.Key}: the base model scored {MeanStd.Of(bases.Select(r => r.Before("learn"))).Mean:F3} on the learning task " +
                $"and {MeanStd.Of(bases.Select(r => r.Before("forget"))).Mean:F3} on the forgetting task before any training" +
                (vanillaRuns.Count > 0 ? $"; vanilla fine-tuning ended at {MeanStd.Of(vanillaRuns.Select(r => r.Learn)).Mean:F3} and {MeanStd.Of(vanillaRuns.Select(r => r.Forget)).Mean:F3}: " +
                    $"it raised the learning metric by {OverBase(vanillaRuns, "learn", r => r.Learn, +1)} over the base model, " +
                    $"and moved the forgetting metric by {OverBase(vanillaRuns, "forget", r => r.Forget, -1)} (paired by seed)." : "."));
            if (list.Any(r => r.Variant == "vanilla") && list.Any(r => r.Variant != "vanilla"))
            {
                double vanillaHeldOut = MeanStd.Of(vanillaRuns.Select(r => r.HeldOut)).Mean;
                var ratios = VariantsOf(list).Where(v => v != "vanilla")
                    .Select(v => (Variant: v, Ratio: MeanStd.Of(list.Where(r => r.Variant == v).Select(r => r.HeldOut)).Mean / vanillaHeldOut)).ToList();
                var worst = ratios.MaxBy(r => r.Ratio);
                // The bar is the product's: an LWF model worse than vanilla by more than this is a regression.
                sb.AppendLine($"Held-out perplexity against vanilla's (means over seeds): {string.Join(", ", ratios.Select(r => $"{r.Variant} {r.Ratio:F2}×"))}; " +
                    $"{(ratios.All(r => r.Ratio <= ValidationChoice.HeldOutLimit) ? $"every LWF row is within {ValidationChoice.HeldOutLimit}× of vanilla's" : $"{worst.Variant} is above {ValidationChoice.HeldOutLimit}× vanilla's")}.");
                sb.AppendLine();
            }
            if (HasDoseResponse(list))
            {
                var dose = DoseRuns(list).GroupBy(AlphaOf).OrderBy(g => g.Key).ToList();
                sb.AppendLine("Dose response (lwf-fisher at each α; α = 0 is vanilla; the seeds that every α ran on):");
                sb.AppendLine();
                sb.AppendLine($"| α | learn {Better.Marked("learn", learnMetric)} | forget {Better.Marked("forget", forgetMetric)} | held-out perplexity ↓ | seeds |");
                sb.AppendLine("| ---: | ---: | ---: | ---: | ---: |");
                foreach (var g in dose)
                    sb.AppendLine($"| {g.Key.ToString("G", CultureInfo.InvariantCulture)} | {MeanStd.Of(g.Select(r => r.Learn)).Format("F3")} | {MeanStd.Of(g.Select(r => r.Forget)).Format("F3")} | " +
                        $"{MeanStd.Of(g.Select(r => r.HeldOut)).Format("F1")} | {g.Count()} |");
                sb.AppendLine();
                var forgetMeans = dose.Select(g => g.Average(r => r.Forget)).ToList();
                int falls = forgetMeans.Zip(forgetMeans.Skip(1)).Count(p => p.Second < p.First);
                sb.AppendLine($"The forgetting metric's mean {(falls == forgetMeans.Count - 1 ? "falls at every step up in α" : $"falls at {falls} of {forgetMeans.Count - 1} steps up in α")} " +
                    $"({string.Join(" → ", forgetMeans.Select(m => m.ToString("F3", CultureInfo.InvariantCulture)))}); Spearman's ρ between α and each run's forgetting metric: " +
                    $"{Spearman(dose.SelectMany(g => g.Select(r => (g.Key, r.Forget))).ToList()):F2}.");
                sb.AppendLine();
                sb.AppendLine($"![{pairRuns.Key}: dose response]({DoseFile(plotFileOf(pairRuns.Key))})");
                sb.AppendLine();
            }
            sb.AppendLine($"![{pairRuns.Key}]({plotFileOf(pairRuns.Key)}) ![{pairRuns.Key}: learning over the steps]({CurvesFile(plotFileOf(pairRuns.Key))})");
            sb.AppendLine();
        }
        sb.AppendLine("## Reading");
        sb.AppendLine();
        sb.AppendLine("Written from the paired differences above by the same command, so it cannot drift from the numbers. " +
            "A change is called a change when its 95 % confidence interval excludes zero; anything else is within what the seeds disagree on.");
        sb.AppendLine();
        foreach (var line in ClaimReading(runs)) sb.AppendLine(line);
        sb.AppendLine();
        static int Consistent(IEnumerable<List<double>> diffs, int sign) => diffs.Count(d => d.Count > 0 && d.All(x => Math.Sign(x) == sign));
        if (tally.Count > 0)
        {
            sb.AppendLine($"In {tally.Count} comparisons of an LWF variant with vanilla fine-tuning (pairs × variants), every seed agreed that:");
            sb.AppendLine();
            sb.AppendLine($"- the learning task improved in {Consistent(tally.Select(t => t.Learn), 1)} and got worse in {Consistent(tally.Select(t => t.Learn), -1)};");
            sb.AppendLine($"- the forgetting task was forgotten more in {Consistent(tally.Select(t => t.Forget), -1)} and less in {Consistent(tally.Select(t => t.Forget), 1)};");
            sb.AppendLine($"- held-out perplexity rose in {Consistent(tally.Select(t => t.HeldOut), 1)} and fell in {Consistent(tally.Select(t => t.HeldOut), -1)}.");
            sb.AppendLine();
        }
        foreach (var line in baseLines) sb.AppendLine($"- {line}");
        sb.AppendLine();
        foreach (var line in reading) sb.AppendLine($"- {line}");
        return sb.ToString();
    }

    /// <summary>A run's final value on a set minus the base model's before it, paired by seed: the mean and its 95 % interval.</summary>
    private static string OverBase(IEnumerable<GridRun> runs, string set, Func<GridRun, double> final, int wanted)
    {
        var d = runs.Select(r => final(r) - r.Before(set)).Where(double.IsFinite).ToList(); // the vanilla runs: they hold the base's evaluation
        return d.Count == 0 ? "(not measured)" : PairedDifference.Of(d, wanted).Format();
    }

    /// <summary>One plain sentence per variant and pair: did learning gain, did forgetting happen, by the 95 % intervals of the paired differences.</summary>
    public static string Reading(string pair, string variant, IReadOnlyList<double> learnDiffs, IReadOnlyList<double> forgetDiffs, IReadOnlyList<double>? heldOutDiffs = null)
    {
        static string Direction(IReadOnlyList<double> d, int wanted, string up, string down, string format = "F3")
        {
            if (d.Count == 0) return "not compared";
            if (d.All(x => x == 0)) return "unchanged in every seed";
            var p = PairedDifference.Of(d, wanted);
            int moved = d.Count(x => Math.Sign(x) == (p.Mean > 0 ? 1 : -1));
            if (p.Above || p.Below) return $"{(p.Above ? up : down)}, {p.Format(format)}, {moved} of {p.Count} seeds";
            return p.Count < 2
                ? $"{(p.Mean > 0 ? up : down)} in the one seed, {p.Format(format)} (no interval from one seed)"
                : $"no change that the seeds tell from zero, {p.Format(format)}";
        }
        return $"{pair}, {variant}: learning-task metric {Direction(learnDiffs, +1, "higher than vanilla", "lower than vanilla")}; " +
            $"forgetting-task accuracy {Direction(forgetDiffs, -1, "higher than vanilla (less forgotten)", "lower than vanilla (more forgotten)")}" +
            (heldOutDiffs is null ? "." : $"; held-out perplexity {Direction(heldOutDiffs, -1, "higher than vanilla (worse)", "lower than vanilla (better)", "F1")}.");
    }

    /// <summary>The variant the paper proposes, and what it must beat besides vanilla fine-tuning.</summary>
    private const string Proposed = "lwf-fisher";

    private static readonly string[] Controls = ["lwf-random", "lwf-inverse"];

    /// <summary>
    /// Whether the paper's claim holds, pair by pair, from the 95 % intervals of paired learning-metric differences:
    /// LWF with the Fisher scorer above vanilla fine-tuning, and above forgetting random or lowest-confidence samples.
    /// </summary>
    public static List<string> ClaimReading(IReadOnlyList<GridRun> runs)
    {
        var lines = new List<string>();
        int tested = 0, holds = 0;
        foreach (var pairRuns in runs.GroupBy(r => r.Pair))
        {
            var list = pairRuns.ToList();
            if (!list.Any(r => r.Variant == Proposed) || !list.Any(r => r.Variant == "vanilla")) continue;
            tested++;
            var comparisons = new[] { "vanilla" }.Concat(Controls.Where(c => list.Any(r => r.Variant == c)))
                .Select(against => (Against: against, Difference: PairedDifference.Of(PairedDifferences(list, Proposed, r => r.Learn, against), +1)))
                .ToList();
            bool all = comparisons.All(c => c.Difference.Above);
            if (all) holds++;
            string detail = string.Join("; ", comparisons.Select(c => $"against {c.Against} {c.Difference.Format()} " +
                (c.Difference.Above ? "(better)" : c.Difference.Below ? "(worse)" : "(not told from zero)")));
            var missing = Controls.Where(c => !list.Any(r => r.Variant == c)).ToList();
            lines.Add($"- {pairRuns.Key}: the claim {(all ? "holds" : "does not hold")} — {Proposed}'s learning metric {detail}" +
                (missing.Count > 0 ? $"; {string.Join(" and ", missing)} not run, so not compared." : "."));
        }
        if (tested == 0) return ["The paper's claim is not tested here: no pair ran both vanilla fine-tuning and " + Proposed + "."];
        int seeds = runs.Select(r => r.Seed).Distinct().Count();
        lines.Insert(0, $"**The paper's claim** (LWF with Fisher-weighted forgetting confidence ends the learning task better than vanilla " +
            $"fine-tuning, and better than forgetting random or lowest-confidence samples) **{(holds == tested ? "holds" : holds == 0 ? "does not hold" : "holds only in part")} " +
            $"at this scale: on {holds} of {tested} pair{(tested == 1 ? "" : "s")}** (95 % intervals of differences paired by seed, {seeds} seed{(seeds == 1 ? "" : "s")}).");
        lines.Insert(1, "");
        return lines;
    }

    /// <summary>Learning and forgetting metric per variant for one pair: bars at the mean, error bars of one std, the seeds as points.</summary>
    public static void Plot(IReadOnlyList<GridRun> pairRuns, string title, string path)
    {
        var plot = new Plot();
        var variants = VariantsOf(pairRuns).ToList();
        var sets = new (string Set, Func<GridRun, double> Measure, Color Color)[] { ("learn", r => r.Learn, Colors.C0), ("forget", r => r.Forget, Colors.C1) };
        for (int s = 0; s < sets.Length; s++)
        {
            var (set, measure, color) = sets[s];
            var bars = variants.Select((variant, i) =>
            {
                var stat = MeanStd.Of(pairRuns.Where(r => r.Variant == variant).Select(measure));
                return new Bar { Position = i * 3 + s, Value = stat.Mean, Error = double.IsNaN(stat.Std) ? 0 : stat.Std, FillColor = color };
            }).ToArray();
            plot.Add.Bars(bars).LegendText = $"{set} {pairRuns[0].Report.Final(set)?.Metric}";
            var points = variants.SelectMany((variant, i) => pairRuns.Where(r => r.Variant == variant).Select(r => (X: i * 3.0 + s, Y: measure(r)))).ToArray();
            var scatter = plot.Add.ScatterPoints(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray());
            scatter.Color = Colors.Black;
            scatter.MarkerSize = 4;
        }
        // Where the base model stood before any run trained, and chance for the forgetting task's four choices.
        for (int s = 0; s < sets.Length; s++)
        {
            var (set, _, color) = sets[s];
            double level = MeanStd.Of(BaseRuns(pairRuns).Select(r => r.Before(set))).Mean;
            if (double.IsNaN(level)) continue;
            var line = plot.Add.HorizontalLine(level);
            line.Color = color;
            line.LinePattern = LinePattern.Dashed;
            line.LegendText = $"base model, {set}";
        }
        var chance = plot.Add.HorizontalLine(ForgetChance);
        chance.Color = Colors.Gray;
        chance.LinePattern = LinePattern.Dotted;
        chance.LegendText = "chance, forget (4 choices)";
        plot.Axes.Bottom.SetTicks(variants.Select((_, i) => i * 3 + 0.5).ToArray(), variants.ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.ShowLegend(Edge.Bottom); // outside the data: a legend over the bars would hide some
        ReportWriter.SavePng(plot, path);
    }

    /// <summary>Spearman's rank correlation (average ranks for ties).</summary>
    public static double Spearman(IReadOnlyList<(double X, double Y)> points)
    {
        static double[] Ranks(IReadOnlyList<double> v)
        {
            var order = Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();
            var ranks = new double[v.Count];
            for (int i = 0; i < order.Length;)
            {
                int j = i;
                while (j + 1 < order.Length && v[order[j + 1]] == v[order[i]]) j++;
                for (int k = i; k <= j; k++) ranks[order[k]] = (i + j) / 2.0;
                i = j + 1;
            }
            return ranks;
        }
        if (points.Count < 2) return double.NaN;
        var rx = Ranks(points.Select(p => p.X).ToList());
        var ry = Ranks(points.Select(p => p.Y).ToList());
        double mx = rx.Average(), my = ry.Average();
        double sxy = rx.Zip(ry).Sum(p => (p.First - mx) * (p.Second - my));
        double sxx = rx.Sum(x => (x - mx) * (x - mx)), syy = ry.Sum(y => (y - my) * (y - my));
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>
    /// The dose response of one pair: the forgetting metric (left axis) and held-out perplexity (right axis, log scale)
    /// against α for lwf-fisher, α = 0 being vanilla: the mean over seeds, each seed as a point.
    /// </summary>
    public static void PlotDoseResponse(IReadOnlyList<GridRun> pairRuns, string title, string path)
    {
        var plot = new Plot();
        var dose = DoseRuns(pairRuns).GroupBy(AlphaOf).OrderBy(g => g.Key).ToList();
        // α spans 0.01–1 and includes 0: the x axis is the rank of α, labelled with its value.
        double[] xs = Enumerable.Range(0, dose.Count).Select(i => (double)i).ToArray();
        var forget = plot.Add.Scatter(xs, dose.Select(g => g.Average(r => r.Forget)).ToArray());
        forget.Color = Colors.C1;
        forget.LineWidth = 2;
        forget.LegendText = $"forget {pairRuns[0].Report.Final("forget")?.Metric} (mean)";
        var perplexity = plot.Add.Scatter(xs, dose.Select(g => Math.Log10(g.Average(r => r.HeldOut))).ToArray());
        perplexity.Color = Colors.C2;
        perplexity.LineWidth = 2;
        perplexity.LegendText = "held-out perplexity, log10 (mean)";
        perplexity.Axes.YAxis = plot.Axes.Right;
        for (int i = 0; i < dose.Count; i++)
        {
            var seeds = dose[i].ToList();
            var f = plot.Add.ScatterPoints(seeds.Select(_ => xs[i]).ToArray(), seeds.Select(r => r.Forget).ToArray());
            f.Color = Colors.C1.WithAlpha(0.4);
            f.MarkerSize = 4;
            var p = plot.Add.ScatterPoints(seeds.Select(_ => xs[i]).ToArray(), seeds.Select(r => Math.Log10(r.HeldOut)).ToArray());
            p.Color = Colors.C2.WithAlpha(0.4);
            p.MarkerSize = 4;
            p.Axes.YAxis = plot.Axes.Right;
        }
        plot.Axes.Bottom.SetTicks(xs, dose.Select(g => g.Key.ToString("G", CultureInfo.InvariantCulture)).ToArray());
        plot.Axes.Bottom.Label.Text = "α (0 = vanilla)";
        plot.Axes.Left.Label.Text = "forget accuracy";
        plot.Axes.Right.Label.Text = "log10 held-out perplexity";
        plot.Title(title);
        plot.ShowLegend(Edge.Bottom);
        ReportWriter.SavePng(plot, path);
    }

    /// <summary>The learning-curves plot beside a pair's plot: NAME.png → NAME-curves.png.</summary>
    public static string CurvesFile(string plotFile) => Path.ChangeExtension(plotFile, null) + "-curves.png";

    /// <summary>Chance accuracy of the forgetting tasks' multiple-choice evaluation (four choices).</summary>
    public const double ForgetChance = 0.25;

    /// <summary>
    /// The learning metric over the steps (before, every eval_steps, after) for vanilla and LWF-fisher: the mean
    /// over seeds, with each seed's curve drawn thin beside it.
    /// </summary>
    public static void PlotLearningCurves(IReadOnlyList<GridRun> pairRuns, string title, string path)
    {
        var plot = new Plot();
        var variants = new[] { ("vanilla", Colors.C0), (Proposed, Colors.C1) };
        foreach (var (variant, color) in variants)
        {
            var runs = pairRuns.Where(r => r.Variant == variant).ToList();
            if (runs.Count == 0) continue;
            // A run that skipped the base's evaluation starts from its seed's (the same model on the same set).
            var bases = BaseRuns(pairRuns).ToDictionary(r => r.Seed);
            List<(double Step, double Value)> Curve(GridRun r) =>
                (r.Report.Before is null && bases.TryGetValue(r.Seed, out var b) ? [b.Report.Before!] : Array.Empty<EvalPoint>())
                .Concat(r.Report.Evaluations)
                .Select(e => (Step: (double)e.Step, Value: e.Results.FirstOrDefault(x => x.Set == "learn")?.Value ?? double.NaN))
                .Where(p => !double.IsNaN(p.Value)).ToList();
            foreach (var run in runs)
            {
                var c = Curve(run);
                var seed = plot.Add.Scatter(c.Select(p => p.Step).ToArray(), c.Select(p => p.Value).ToArray());
                seed.Color = color.WithAlpha(0.3);
                seed.MarkerSize = 0;
            }
            var mean = runs.SelectMany(Curve).GroupBy(p => p.Step).OrderBy(g => g.Key).Select(g => (Step: g.Key, Value: g.Average(p => p.Value))).ToList();
            var line = plot.Add.Scatter(mean.Select(p => p.Step).ToArray(), mean.Select(p => p.Value).ToArray());
            line.Color = color;
            line.LineWidth = 2;
            line.LegendText = $"{variant} (mean of {runs.Count} seeds; thin: each seed)";
        }
        plot.XLabel("learning step");
        plot.YLabel($"learn {pairRuns[0].Report.Final("learn")?.Metric}");
        plot.Title(title);
        plot.ShowLegend(Edge.Bottom);
        ReportWriter.SavePng(plot, path);
    }
}
