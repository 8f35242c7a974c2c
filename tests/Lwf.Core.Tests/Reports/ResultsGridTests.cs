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
        Assert.Contains("learning-task metric consistently higher than vanilla (+0.020, 3 of 3 seeds)", fisher);
        Assert.Contains("forgetting-task accuracy consistently lower than vanilla (more forgotten)", fisher);
        string random = ResultsGrid.Reading("p", "lwf-random", ResultsGrid.PairedDifferences(runs, "lwf-random", r => r.Learn),
            ResultsGrid.PairedDifferences(runs, "lwf-random", r => r.Forget));
        Assert.Contains("learning-task metric no clear change", random); // +0.05, −0.05, 0: seeds disagree
        Assert.Contains("forgetting-task accuracy unchanged in every seed", random);

        string md = ResultsGrid.Markdown(runs, "lwf experiment --seeds 1,2,3", ["setup"], pair => $"plots/{pair}.png");
        Assert.Contains("lwf experiment --seeds 1,2,3", md);
        Assert.Contains("| vanilla | 0.600 ± 0.100 | 0.500 ± 0.100 | 100.0 ± 0.0 |", md);
        Assert.Contains("| lwf-fisher | +0.020 ± 0.000 | 3/3 | -0.050 ± 0.000 | 3/3 | -10.0 ± 0.0 |", md);
        Assert.True(md.IndexOf("| vanilla |", StringComparison.Ordinal) < md.IndexOf("| lwf-fisher |", StringComparison.Ordinal));
    }
}
