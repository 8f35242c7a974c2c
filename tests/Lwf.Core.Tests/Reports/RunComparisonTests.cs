using Lwf.Core.Evaluation;
using Lwf.Core.Reports;

namespace Lwf.Core.Tests.Reports;

public sealed class RunComparisonTests
{
    private static ComparedRun Run(string name, double learn, double forget)
    {
        var report = new LwfReport();
        report.Evaluations.Add(new EvalPoint(0, "before",
            [new EvalResult("learn", "accuracy", 0.2, 80), new EvalResult("forget", "accuracy", 0.975, 80), new EvalResult("held-out", "perplexity", 1324.4, 100)]));
        report.Evaluations.Add(new EvalPoint(120, "after",
            [new EvalResult("learn", "accuracy", learn, 80), new EvalResult("forget", "accuracy", forget, 80), new EvalResult("held-out", "perplexity", 7000, 100)]));
        return new ComparedRun(name, report, 55);
    }

    [Fact]
    public void The_demo_table_shows_the_base_models_level_once_above_the_runs()
    {
        string table = RunComparison.Table([Run("vanilla", 0.4375, 0.6), Run("lwf-fisher", 0.2875, 0.3)]);
        var lines = table.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("| base model, before | 0.2000 | 0.9750 | 1324.4 | – |", lines[2]);
        Assert.Equal("| vanilla | 0.4375 | 0.6000 | 7000.0 | 55 s |", lines[3]);
        Assert.Equal("| lwf-fisher | 0.2875 | 0.3000 | 7000.0 | 55 s |", lines[4]);
        Assert.Equal(5, lines.Length);
    }
}
