using System.Text.Json.Nodes;

namespace Lwf.EndToEnd.Tests;

/// <summary>`lwf demo --tiny` as a user runs it: fetch (or reuse) the corpora, pretrain the tiny base, three runs, one table.</summary>
public sealed class DemoTests
{
    [Fact]
    public void The_tiny_demo_runs_three_ways_on_an_embedded_cluster_and_prints_a_table_of_what_it_measured()
    {
        string data = Environment.GetEnvironmentVariable("LWF_DATA") is { Length: > 0 } d ? d : Path.Combine(Path.GetTempPath(), "lwf-test-data");
        var lwf = new Lwf(Lwf.NewTempDir());
        string output = Path.Combine(Lwf.NewTempDir(), "demo");
        var (code, stdout, stderr) = lwf.Run("demo", "--tiny", "--dir", data, "--out", output);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("[2/4] base model", stderr);
        var peak = System.Text.RegularExpressions.Regex.Match(stdout, @"peak memory \(process RSS, pretraining and 2 silos included\): ([0-9.]+) GiB");
        Assert.True(peak.Success, stdout);
        Assert.True(double.Parse(peak.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) < 4, peak.Value);
        Assert.Contains("| run | learn accuracy ↑ | forget accuracy ↓ | held-out perplexity ↓ | wall time |", stdout);
        foreach (var file in new[] { "demo.md", "demo.png", "job/job-vanilla.yaml", "job/learn-train.jsonl" })
            Assert.True(File.Exists(Path.Combine(output, file)), file);

        // Each row's numbers are the run's own report.
        var rows = stdout.Split('\n').Where(l => l.StartsWith("| vanilla") || l.StartsWith("| lwf-")).ToList();
        Assert.Equal(["vanilla", "lwf-fisher", "lwf-random"], rows.Select(r => r.Split('|')[1].Trim()));
        foreach (var row in rows)
        {
            var cells = row.Split('|').Select(c => c.Trim()).ToArray();
            var report = JsonNode.Parse(File.ReadAllText(Path.Combine(output, cells[1], "report.json")))!;
            var after = report["evaluations"]!.AsArray().Last()!["results"]!.AsArray()
                .ToDictionary(r => r!["set"]!.GetValue<string>(), r => r!["value"]!.GetValue<double>());
            Assert.Equal(after["learn"].ToString("F4"), cells[2]);
            Assert.Equal(after["forget"].ToString("F4"), cells[3]);
            Assert.Equal(after["held-out"].ToString("F1"), cells[4]);
            int forgettingRecords = report["forgettingRecords"]!.GetValue<int>();
            if (cells[1] == "vanilla") Assert.Equal(0, forgettingRecords);
            else Assert.True(forgettingRecords > 0, cells[1]);
        }
    }
}
