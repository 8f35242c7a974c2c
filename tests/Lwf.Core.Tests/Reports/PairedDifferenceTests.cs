using Lwf.Core.Reports;

namespace Lwf.Core.Tests.Reports;

/// <summary>Student's t and the paired interval, against R's published values (qt, pt, t.test on the sleep data).</summary>
public sealed class PairedDifferenceTests
{
    [Theory]
    [InlineData(0.975, 1, 12.7062047)]
    [InlineData(0.975, 2, 4.3026527)]
    [InlineData(0.975, 4, 2.7764451)]
    [InlineData(0.975, 9, 2.2621572)]
    [InlineData(0.975, 30, 2.0422725)]
    [InlineData(0.95, 5, 2.0150484)]
    [InlineData(0.025, 9, -2.2621572)]
    public void Quantiles_are_those_of_the_tables(double p, int df, double expected) =>
        Assert.Equal(expected, StudentT.Quantile(p, df), 1e-6);

    [Theory]
    [InlineData(2.0, 3, 0.9303370)]
    [InlineData(-1.5, 10, 0.0822537)]
    [InlineData(0.0, 7, 0.5)]
    public void The_cdf_is_that_of_the_tables(double t, int df, double expected) =>
        Assert.Equal(expected, StudentT.Cdf(t, df), 1e-6);

    [Fact]
    public void The_sleep_data_gives_the_interval_of_Rs_paired_t_test()
    {
        // Student (1908) / Cushny & Peebles: extra hours of sleep with two drugs, ten patients; R's
        // t.test(extra ~ group, data = sleep, paired = TRUE): mean difference 1.58, 95 % CI (0.7001142, 2.4598858).
        double[] first = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
        double[] second = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
        var d = PairedDifference.Of(second.Zip(first, (b, a) => b - a).ToList(), wantedSign: +1);
        Assert.Equal(1.58, d.Mean, 10);
        Assert.Equal(0.7001142, d.Low, 1e-6);
        Assert.Equal(2.4598858, d.High, 1e-6);
        Assert.Equal(10, d.Count);
        Assert.Equal(9, d.Wanted); // one patient slept the same
        Assert.True(d.Above);
        Assert.False(d.Below);
        Assert.Equal("+1.580 [+0.700, +2.460]", d.Format());
    }

    [Fact]
    public void One_seed_has_no_interval_and_none_has_nothing()
    {
        var one = PairedDifference.Of([0.2], +1);
        Assert.True(double.IsNaN(one.Low) && double.IsNaN(one.High));
        Assert.False(one.Above || one.Below);
        Assert.Equal("+0.200", one.Format());
        Assert.Equal("–", PairedDifference.Of([], +1).Format());
        Assert.Equal(1, PairedDifference.Of([-0.1, 0.3], -1).Wanted);
    }
}
