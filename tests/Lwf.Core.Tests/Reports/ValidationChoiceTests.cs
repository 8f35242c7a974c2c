using Lwf.Core.Reports;

namespace Lwf.Core.Tests.Reports;

public sealed class ValidationChoiceTests
{
    private static ValidationCandidate C(double value, double[] learn, double heldOut) =>
        new(value, learn, learn.Select(_ => 0.5).ToList(), learn.Select(_ => heldOut).ToList());

    [Fact]
    public void The_learning_rate_is_the_one_whose_runs_learn_best_on_the_validation_split()
    {
        Assert.Equal(1e-3, ValidationChoice.LearningRate([C(5e-4, [0.30, 0.34], 10), C(1e-3, [0.40, 0.38], 50), C(2e-3, [0.39, 0.38], 900)]));
        // A tie goes to the smaller rate; a rate never run is not chosen.
        Assert.Equal(5e-4, ValidationChoice.LearningRate([C(1e-3, [0.4], 10), C(5e-4, [0.4], 10), C(2e-3, [], 1)]));
        Assert.Throws<InvalidOperationException>(() => ValidationChoice.LearningRate([C(1e-3, [], 1)]));
    }

    [Fact]
    public void Alpha_is_chosen_among_the_values_that_keep_held_out_perplexity_within_the_limit_of_vanillas()
    {
        // 0.2 learns best, but its held-out perplexity is 2× vanilla's (100): 0.05 is the best within 1.5×.
        var alphas = new[] { C(0.01, [0.40], 100), C(0.05, [0.42], 140), C(0.1, [0.41], 150), C(0.2, [0.50], 200) };
        Assert.Equal(0.05, ValidationChoice.Alpha(alphas, vanillaHeldOut: 100));
        Assert.Equal(0.2, ValidationChoice.Alpha(alphas, vanillaHeldOut: 1000));
        // None within the limit: the least harmful.
        Assert.Equal(0.01, ValidationChoice.Alpha(alphas, vanillaHeldOut: 10));
    }

    [Fact]
    public void The_table_lists_every_candidate_by_value_and_marks_the_chosen_one()
    {
        string table = ValidationChoice.Table("α", [C(0.1, [0.4, 0.2], 120), C(0.05, [0.5], 100)], chosen: 0.1);
        var lines = table.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("| α | valid learn | valid forget | valid held-out perplexity | runs | chosen |", lines[0]);
        Assert.Equal("| 0.05 | 0.500 | 0.500 | 100.0 | 1 |  |", lines[2]);
        Assert.Equal("| 0.1 | 0.300 ± 0.141 | 0.500 ± 0.000 | 120.0 ± 0.0 | 2 | **yes** |", lines[3]);
    }
}
