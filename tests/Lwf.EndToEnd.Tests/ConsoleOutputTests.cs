using System.Text.Json;
using System.Text.RegularExpressions;

namespace Lwf.EndToEnd.Tests;

/// <summary>What `lwf run` and `lwf watch` print: a live line that fits the terminal, timestamped JSON events when asked.</summary>
public sealed class ConsoleOutputTests
{
    /// <summary>The tiny job, shorter (6 steps: a checkpoint, forgetting, an evaluation on the way), beside it so its paths hold.</summary>
    private static string ShortJob()
    {
        string tiny = Path.Combine(Lwf.RepoRoot, "cluster", "jobs", "tiny-lwf.yaml");
        string job = Path.Combine(Path.GetDirectoryName(tiny)!, $".console-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(job, File.ReadAllText(tiny).Replace("steps: 12", "steps: 6"));
        return job;
    }

    [SkippableTheory]
    [InlineData(80)]
    [InlineData(160)]
    public void In_a_terminal_of_any_width_the_live_line_never_wraps_and_shows_the_step_and_loss_whole(int columns)
    {
        string? tmux = TmuxSession.Find();
        Skip.If(tmux is null, "tmux is not installed (.ci/run installs it)");
        string job = ShortJob();
        try
        {
            using var terminal = new TmuxSession(tmux!, columns, Lwf.NewTempDir(), null, "run", job, "--out", Path.Combine(Lwf.NewTempDir(), "out"), "--silos", "1");
            var (code, _) = terminal.WaitForExit(TimeSpan.FromMinutes(8));
            string pane = terminal.Capture();
            Assert.Equal(0, code);
            // -J joins the rows a wrapped line took. A live line that wrapped would leave a row per redraw; here each
            // stretch of training is one row, shorter than the terminal. (Other output, e.g. a long path, may wrap.)
            string joined = terminal.Capture(joined: true);
            string[] rows = pane.TrimEnd().Split('\n'), lines = joined.TrimEnd().Split('\n');
            static bool Live(string line) => line.StartsWith("training ", StringComparison.Ordinal);
            Assert.True(rows.Count(Live) == lines.Count(Live) && lines.Where(Live).All(l => l.Length < columns), $"at {columns} columns:\n{pane}");
            // Each stretch of training leaves its last live line in place: the step and the loss in full.
            Assert.True(lines.Any(l => Regex.IsMatch(l, @"^training [1-6]/6 .*loss \d+\.\d{4}(,|$)")), $"at {columns} columns:\n{pane}");
        }
        finally
        {
            File.Delete(job);
        }
    }

    [Fact]
    public void With_json_every_line_on_stdout_is_an_event_with_a_later_time()
    {
        string job = ShortJob();
        try
        {
            var (code, stdout, stderr) = new Lwf(Lwf.NewTempDir()).Run("run", job, "--out", Path.Combine(Lwf.NewTempDir(), "out"), "--silos", "1", "--json");
            Assert.True(code == 0, stdout + stderr);
            var events = stdout.Trim().Split('\n').Select(line => JsonDocument.Parse(line).RootElement).ToList();
            var times = events.Select(e => e.GetProperty("time").GetDateTimeOffset()).ToList();
            Assert.True(times.Zip(times.Skip(1)).All(p => p.Second > p.First), string.Join('\n', times));
            Assert.Contains(events, e => e.GetProperty("event").GetString() == "step" && e.GetProperty("loss").GetDouble() > 0);
            var end = events[^1];
            Assert.Equal(("end", "done", 6), (end.GetProperty("event").GetString(), end.GetProperty("phase").GetString(), end.GetProperty("step").GetInt32()));
            Assert.Matches(@"^\d+\.\d+\.\d+\.\d+:\d+$", end.GetProperty("trainer").GetString());
            Assert.Contains("wrote ", stderr); // the summary goes to stderr, so that stdout stays JSON
        }
        finally
        {
            File.Delete(job);
        }
    }
}
