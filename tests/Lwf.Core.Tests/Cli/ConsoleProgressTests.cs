using Lwf.Cli;
using Lwf.Core.Jobs;

namespace Lwf.Core.Tests.Cli;

public sealed class ConsoleProgressTests
{
    /// <summary>What `lwf watch` shows while training on three silos, in full.</summary>
    private const string TrainingDetail = "loss 10.8424, forgetting 11.2345, 1234 tokens/s (56 loss tokens/s), checkpoint 4, shards per silo 2/2/2";

    [Fact]
    public void The_line_never_reaches_the_last_column_at_any_width()
    {
        var updates = new[]
        {
            new ProgressUpdate(JobStage.Training, 3, 12, TrainingDetail),
            new ProgressUpdate(JobStage.SelfGeneration, 123_456, 1_000_000, Part: "the longest label, with its part"),
            new ProgressUpdate(JobStage.Evaluation, 0, 1, Part: "after"),
            new ProgressUpdate(JobStage.Training, 12, 12, TrainingDetail + new string('x', 500)),
        };
        for (int width = 20; width <= 400; width++)
            foreach (var update in updates)
                foreach (var elapsed in new[] { TimeSpan.Zero, TimeSpan.FromSeconds(7.5), TimeSpan.FromHours(30) })
                {
                    string line = ConsoleProgress.Format(update, elapsed, doneSinceStart: update.Done, width);
                    Assert.True(line.Length <= Math.Max(19, width - 1), $"{line.Length} characters at width {width}: {line}");
                    Assert.DoesNotContain('\n', line);
                }
    }

    [Fact]
    public void At_80_columns_the_step_and_loss_are_whole_and_at_160_the_bar_and_eta_show_too()
    {
        var update = new ProgressUpdate(JobStage.Training, 3, 12, TrainingDetail);
        string narrow = ConsoleProgress.Format(update, TimeSpan.FromSeconds(12), doneSinceStart: 3, width: 80);
        Assert.StartsWith("training 3/12 ", narrow);
        Assert.Contains("loss 10.8424,", narrow);
        Assert.Contains("ETA 00:36", narrow); // 3 steps in 12 s: 4 s a step, 9 steps to go

        string wide = ConsoleProgress.Format(update, TimeSpan.FromSeconds(12), doneSinceStart: 3, width: 160);
        Assert.Contains("[", wide);
        Assert.Contains("00:12 4.0 s/it ETA 00:36  " + TrainingDetail[..40], wide);
        // A watcher that joined late measures its rate from what it saw, not from step 0.
        Assert.DoesNotContain("ETA", ConsoleProgress.Format(update, TimeSpan.FromSeconds(1), doneSinceStart: 0, width: 160));
    }

    [Theory]
    [InlineData("S127.0.0.1:41981:155107527", "127.0.0.1:41981")]
    [InlineData("S10.244.1.7:11111:155107527", "10.244.1.7:11111")]
    [InlineData("lwf-silo-0", "lwf-silo-0")]
    public void Silos_are_named_by_host_and_port(string orleans, string shown) => Assert.Equal(shown, SiloNames.Short(orleans));
}
