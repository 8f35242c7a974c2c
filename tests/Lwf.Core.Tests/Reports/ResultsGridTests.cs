using Lwf.Core.Evaluation;
using Lwf.Core.Reports;

namespace Lwf.Core.Tests.Reports;

public sealed class ResultsGridTests
{
    private static GridRun Run(string pair, string variant, long seed, double learn, double forget, double heldOut)
    {
        var report = new LwfReport();
        report.Evaluations.Add(new EvalPoint(0, "before", [new EvalResult("learn", "accuracy", 0.5, 10)]));
        report.Evaluations.Add(new EvalPoint(10, "after",
            [new EvalResult("learn", "accuracy", learn, 10), new EvalResult("forget", "accuracy", forget, 10), new EvalResult("held-out", "perplexity", heldOut, 10)]));
        return new GridRun(pair, variant, seed, report, 1);
    }

    [Fact]
    public void The_base_model_level_comes_from_the_run_of_each_seed_that_evaluated_it()
    {
        // As the grid runs them: only vanilla evaluates the base; the others skip it (eval.before: false).
        static GridRun Skipping(GridRun r)
        {
            r.Report.Evaluations.RemoveAll(e => e.Phase == "before");
            return r;
        }
        var runs = new List<GridRun>
        {
            Skipping(Run("p", "lwf-fisher", 1, 0.6, 0.3, 90)), Skipping(Run("p", "lwf-fisher", 2, 0.6, 0.3, 90)),
            Run("p", "vanilla", 1, 0.9, 0.4, 100), Run("p", "vanilla", 2, 0.7, 0.4, 100),
        };
        runs[3].Report.Evaluations[0] = new EvalPoint(0, "before", [new EvalResult("learn", "accuracy", 0.3, 10)]);
        Assert.Equal(["vanilla", "vanilla"], ResultsGrid.BaseRuns(runs).Select(r => r.Variant));
        string md = ResultsGrid.Markdown(runs, "lwf experiment", ["setup"], pair => $"plots/{pair}.png");
        Assert.Contains("| base model, before | 0.400 ± 0.141 |", md); // seeds 1 and 2: 0.5 and 0.3
        Assert.Contains("it raised the learning metric by +0.400 [+0.400, +0.400] over the base model", md); // 0.9 − 0.5 and 0.7 − 0.3, paired by seed
    }

    [Fact]
    public void Mean_and_sample_deviation_match_the_textbook()
    {
        var s = MeanStd.Of([2, 4, 4, 4, 5, 5, 7, 9]);
        Assert.Equal(5, s.Mean, 12);
        Assert.Equal(Math.Sqrt(32.0 / 7), s.Std, 12); // n − 1 in the denominator
        Assert.True(double.IsNaN(MeanStd.Of([3]).Std));
        Assert.Equal("3.000", MeanStd.Of([3]).Format("F3"));
    }

    [Fact]
    public void Differences_are_paired_by_seed_and_the_reading_follows_their_signs()
    {
        var runs = new List<GridRun>
        {
            Run("p", "vanilla", 1, 0.50, 0.40, 100), Run("p", "vanilla", 2, 0.70, 0.60, 100), Run("p", "vanilla", 3, 0.60, 0.50, 100),
            // Seeds in another order: pairing must go by seed, not by position.
            Run("p", "lwf-fisher", 3, 0.62, 0.45, 90), Run("p", "lwf-fisher", 1, 0.52, 0.35, 90), Run("p", "lwf-fisher", 2, 0.72, 0.55, 90),
            Run("p", "lwf-random", 1, 0.55, 0.40, 100), Run("p", "lwf-random", 2, 0.65, 0.60, 100), Run("p", "lwf-random", 3, 0.60, 0.50, 100),
        };
        var learn = ResultsGrid.PairedDifferences(runs, "lwf-fisher", r => r.Learn);
        Assert.All(learn, d => Assert.Equal(0.02, d, 9));
        Assert.All(ResultsGrid.PairedDifferences(runs, "lwf-fisher", r => r.Forget), d => Assert.Equal(-0.05, d, 9));

        string fisher = ResultsGrid.Reading("p", "lwf-fisher", learn, ResultsGrid.PairedDifferences(runs, "lwf-fisher", r => r.Forget));
        Assert.Contains("learning-task metric higher than vanilla, +0.020 [+0.020, +0.020], 3 of 3 seeds", fisher);
        Assert.Contains("forgetting-task accuracy lower than vanilla (more forgotten)", fisher);
        string random = ResultsGrid.Reading("p", "lwf-random", ResultsGrid.PairedDifferences(runs, "lwf-random", r => r.Learn),
            ResultsGrid.PairedDifferences(runs, "lwf-random", r => r.Forget));
        Assert.Contains("learning-task metric no change that the seeds tell from zero, ", random); // +0.05, −0.05, 0: seeds disagree
        Assert.Contains("forgetting-task accuracy unchanged in every seed", random);

        string md = ResultsGrid.Markdown(runs, "lwf experiment --seeds 1,2,3", ["setup"], pair => $"plots/{pair}.png");
        Assert.Contains("lwf experiment --seeds 1,2,3", md);
        Assert.Contains("| vanilla | 0.600 ± 0.100 | 0.500 ± 0.100 | 100.0 ± 0.0 |", md);
        Assert.Contains("| lwf-fisher | +0.020 [+0.020, +0.020] | 3/3 | -0.050 [-0.050, -0.050] | 3/3 | -10.0 [-10.0, -10.0] | 3/3 |", md);
        // Fisher beats vanilla (+0.02 every seed) but not random (−0.03, +0.07, +0.02: the interval spans zero).
        Assert.Contains("**The paper's claim**", md);
        Assert.Contains("**does not hold at this scale: on 0 of 1 pair**", md);
        Assert.Contains("lwf-inverse not run, so not compared", md);
        // What vanilla fine-tuning learnt, paired by seed against the base model (0.5 before every seed): +0, +0.2, +0.1,
        // a mean of 0.1 with t(0.975, 2) = 4.3027 times 0.1/√3 on either side.
        Assert.Contains("it raised the learning metric by +0.100 [-0.148, +0.348] over the base model", md);
        Assert.True(md.IndexOf("| vanilla |", StringComparison.Ordinal) < md.IndexOf("| lwf-fisher |", StringComparison.Ordinal));
    }

    /// <summary>Five seeds of a pair where Fisher gains over vanilla by 0.10 ± noise, and random and inverse by less.</summary>
    private static List<GridRun> Claim(double overRandom, double overInverse, string pair = "p")
    {
        double[] noise = [0.01, -0.02, 0.015, -0.005, 0.0];
        var runs = new List<GridRun>();
        for (int s = 0; s < 5; s++)
        {
            double vanilla = 0.5 + 0.03 * s;
            runs.Add(Run(pair, "vanilla", s + 1, vanilla, 0.8, 100));
            runs.Add(Run(pair, "lwf-fisher", s + 1, vanilla + 0.10 + noise[s], 0.6, 100));
            runs.Add(Run(pair, "lwf-random", s + 1, vanilla + 0.10 + noise[s] - overRandom - noise[(s + 2) % 5], 0.7, 100));
            runs.Add(Run(pair, "lwf-inverse", s + 1, vanilla + 0.10 + noise[s] - overInverse - noise[(s + 1) % 5], 0.7, 100));
        }
        return runs;
    }

    [Fact]
    public void The_claim_holds_only_where_every_interval_is_above_zero()
    {
        var holds = ResultsGrid.ClaimReading(Claim(overRandom: 0.08, overInverse: 0.06));
        Assert.StartsWith("**The paper's claim**", holds[0]);
        Assert.Contains("**holds at this scale: on 1 of 1 pair**", holds[0]);
        Assert.Contains("(95 % intervals of differences paired by seed, 5 seeds)", holds[0]);
        Assert.Contains("- p: the claim holds", holds[2]);

        // Fisher beats vanilla and inverse, but not random by more than the seeds' noise.
        var part = ResultsGrid.ClaimReading([.. Claim(overRandom: 0.08, overInverse: 0.06, "a"), .. Claim(overRandom: 0.0, overInverse: 0.06, "b")]);
        Assert.Contains("**holds only in part at this scale: on 1 of 2 pairs**", part[0]);
        var b = Assert.Single(part, l => l.StartsWith("- b:"));
        Assert.Contains("does not hold", b);
        Assert.Matches(@"against lwf-random [+-]?0\.000 \[-0\.0\d\d, \+0\.0\d\d\] \(not told from zero\)", b);
        Assert.Contains("against lwf-inverse +0.060 [", b);

        // Fisher below vanilla: the claim is contradicted, and the reading says worse.
        var worse = Claim(0.08, 0.06).Select(r => r.Variant == "lwf-fisher" ? Run(r.Pair, r.Variant, r.Seed, r.Learn - 0.2, r.Forget, r.HeldOut) : r).ToList();
        var no = ResultsGrid.ClaimReading(worse);
        Assert.Contains("**does not hold at this scale: on 0 of 1 pair**", no[0]);
        Assert.Contains("against vanilla -0.100 [", no[2]);
        Assert.Contains("(worse)", no[2]);

        // Without the proposed variant the claim is not tested.
        Assert.Equal(["The paper's claim is not tested here: no pair ran both vanilla fine-tuning and lwf-fisher."],
            ResultsGrid.ClaimReading(Claim(0.08, 0.06).Where(r => r.Variant != "lwf-fisher").ToList()));
    }

    [Fact]
    public void Plots_of_a_pair_are_written_with_levels_and_learning_curves()
    {
        var runs = Claim(0.08, 0.06);
        foreach (var r in runs) r.Report.Evaluations.Insert(1, new EvalPoint(5, "during", [new EvalResult("learn", "accuracy", r.Learn - 0.05, 10)]));
        string dir = TestPaths.NewTempDir();
        ResultsGrid.Plot(runs, "p", Path.Combine(dir, "p.png"));
        ResultsGrid.PlotLearningCurves(runs, "p: learning over the steps", Path.Combine(dir, ResultsGrid.CurvesFile("p.png")));
        foreach (var file in new[] { "p.png", "p-curves.png" })
        {
            var bytes = File.ReadAllBytes(Path.Combine(dir, file));
            Assert.True(bytes.Length > 1000, file);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        }
        Assert.Contains("![p: learning over the steps](plots/p-curves.png)", ResultsGrid.Markdown(runs, "cmd", [], pair => $"plots/{pair}.png"));
    }

    [Fact]
    public void Spearman_matches_the_textbook_with_ties()
    {
        // x ranks 0..4; y = 5, 6, 7, 8, 7 ranks 0, 1, 2.5, 4, 2.5: ρ = 8 / √(10 · 9.5).
        Assert.Equal(8 / Math.Sqrt(95), ResultsGrid.Spearman([(1, 5), (2, 6), (3, 7), (4, 8), (5, 7)]), 12);
        Assert.Equal(-1, ResultsGrid.Spearman([(0, 3), (0, 3), (1, 2), (1, 2), (2, 1)]), 12);
    }

    [Fact]
    public void The_dose_response_goes_by_alpha_says_whether_forgetting_falls_and_holds_perplexity_to_vanilla()
    {
        GridRun At(string variant, long seed, double alpha, double forget, double heldOut)
        {
            var run = Run("p", variant, seed, 0.5, forget, heldOut);
            if (alpha > 0) run.Report.Forgetting = new ForgettingSummary("fisher", "interleave", "npo", alpha, 0.25, 10, 2, null, []);
            return run;
        }
        var runs = new List<GridRun>();
        foreach (long seed in new long[] { 1, 2 })
            runs.AddRange([At("vanilla", seed, 0, 0.50, 100), At("lwf-fisher-a0.01", seed, 0.01, 0.45, 110), At("lwf-fisher", seed, 0.1, 0.35, 120),
                At("lwf-fisher-a1", seed, 1, 0.30, 200)]);
        // A seed that only vanilla and the chosen α ran (the main comparison's): left out of the dose response.
        runs.AddRange([At("vanilla", 3, 0, 0.90, 100), At("lwf-fisher", 3, 0.1, 0.10, 120)]);
        Assert.True(ResultsGrid.HasDoseResponse(runs));
        string md = ResultsGrid.Markdown(runs, "cmd", [], pair => $"plots/{pair}.png");
        Assert.Contains("| α | learn accuracy ↑ | forget accuracy ↓ | held-out perplexity ↓ | seeds |", md);
        Assert.Contains("| 0.01 | 0.500 ± 0.000 | 0.450 ± 0.000 | 110.0 ± 0.0 | 2 |", md);
        Assert.Contains("falls at every step up in α (0.500 → 0.450 → 0.350 → 0.300); Spearman's ρ between α and each run's forgetting metric: -1.00", md);
        Assert.Contains("lwf-fisher 1.20×", md);
        Assert.Contains("lwf-fisher-a1 is above 1.5× vanilla's", md);
        // Each row against vanilla on its own seeds: lwf-fisher ran seeds 1–3 (120 against 100), the dose rows 1–2.
        Assert.Contains("Held-out perplexity against vanilla's on the same seeds (means): lwf-fisher 1.20×, lwf-fisher-a0.01 1.10×, lwf-fisher-a1 2.00×", md);
        Assert.Contains("![p: dose response](plots/p-dose.png)", md);
        // The variants in α order after the named ones.
        Assert.True(md.IndexOf("| lwf-fisher-a0.01 |", StringComparison.Ordinal) < md.IndexOf("| lwf-fisher-a1 |", StringComparison.Ordinal));

        string dir = TestPaths.NewTempDir();
        ResultsGrid.PlotDoseResponse(runs, "p: dose response", Path.Combine(dir, "p-dose.png"));
        var bytes = File.ReadAllBytes(Path.Combine(dir, "p-dose.png"));
        Assert.True(bytes.Length > 1000);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        Assert.False(ResultsGrid.HasDoseResponse(runs.Where(r => r.Variant is "vanilla" or "lwf-fisher")));
    }

    [Fact]
    public void A_grid_that_has_only_run_vanilla_so_far_is_written_with_the_choices_before_its_tables()
    {
        var runs = new List<GridRun> { Run("p", "vanilla", 1, 0.5, 0.5, 100), Run("p", "vanilla", 2, 0.6, 0.5, 110) };
        string md = ResultsGrid.Markdown(runs, "cmd", ["setup"], pair => $"plots/{pair}.png", choices: "CHOICES");
        Assert.True(md.IndexOf("## Choices on the validation split\n\nCHOICES", StringComparison.Ordinal) is > 0 and var at
            && at < md.IndexOf("## p", StringComparison.Ordinal), md);
        Assert.DoesNotContain("Held-out perplexity against vanilla's", md);
    }
}
