using Lwf.Core.Forgetting;

namespace Lwf.Core.Tests.Forgetting;

public sealed class ForgettingStreamTests
{
    [Theory]
    [InlineData(0.25, 8, 4)]   // the authors' portion: one forgetting record after every 4 learning records
    [InlineData(0.3, 8, 3)]    // round(1/0.3) = 3
    [InlineData(1.0, 4, 1)]
    public void Interleave_puts_one_forgetting_record_after_every_k_learning_records(double portion, int batch, int every)
    {
        var stream = new ForgettingStream(ForgettingArrangement.Interleave, portion, batch, Steps: 50);
        Assert.Equal(every, stream.Every);
        var counts = Enumerable.Range(1, 50).Select(stream.CountAt).ToList();
        Assert.Equal(50L * batch / every, counts.Sum());
        Assert.Equal(stream.Total, counts.Sum());
        // Spread evenly: after n steps, ⌊nB/k⌋ forgetting records, never more than one apart from the ideal.
        for (int n = 1; n <= 50; n++) Assert.Equal((long)n * batch / every, counts.Take(n).Sum());
    }

    [Fact]
    public void Ahead_carries_the_same_total_a_batch_at_a_time_from_the_first_step()
    {
        var interleave = new ForgettingStream(ForgettingArrangement.Interleave, 0.25, 8, Steps: 10);
        var ahead = new ForgettingStream(ForgettingArrangement.Ahead, 0.25, 8, Steps: 10);
        var counts = Enumerable.Range(1, 10).Select(ahead.CountAt).ToList();
        Assert.Equal(interleave.Total, counts.Sum());
        Assert.Equal([8, 8, 4, 0, 0, 0, 0, 0, 0, 0], counts);
    }

    [Fact]
    public void None_carries_nothing_and_the_cap_is_portion_times_the_learning_records()
    {
        var none = new ForgettingStream(ForgettingArrangement.None, 0.25, 8, Steps: 10);
        Assert.All(Enumerable.Range(1, 10), n => Assert.Equal(0, none.CountAt(n)));
        Assert.Equal(50, ForgettingStream.Cap(0.25, 200));
        Assert.Equal(1, ForgettingStream.Cap(0.25, 2));
    }
}
