using Lwf.Cli;

namespace Lwf.Core.Tests.Cli;

public sealed class LinePaceTests
{
    [Fact]
    public void Piped_progress_prints_at_most_every_30_s_unless_it_must_and_owes_a_line_after_60_s()
    {
        var pace = new LinePace();
        var t = new DateTime(2026, 12, 6, 12, 0, 0, DateTimeKind.Utc);
        Assert.False(pace.Overdue(t)); // nothing printed yet: nothing owed
        Assert.True(pace.Due(t)); // the first line
        // A step a second: one line in the first 30 s, whatever the steps.
        Assert.Equal(0, Enumerable.Range(1, 29).Count(s => pace.Due(t.AddSeconds(s))));
        Assert.True(pace.Due(t.AddSeconds(30)));
        Assert.True(pace.Due(t.AddSeconds(31), must: true)); // a new stage, a checkpoint, the end: at once
        Assert.False(pace.Overdue(t.AddSeconds(90)));
        Assert.True(pace.Overdue(t.AddSeconds(91))); // a silent minute owes a line
        Assert.False(pace.Overdue(t.AddSeconds(120)));
    }
}
