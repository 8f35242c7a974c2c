using System.Globalization;
using System.Text.RegularExpressions;
using Lwf.Abstractions;
using Lwf.Core.Reports;
using Lwf.Grains.Telemetry;
using Lwf.Silo;

namespace Lwf.Grains.Tests;

/// <summary>/metrics of real silos during and after a real job, against what the job's report says happened.</summary>
[Collection(nameof(ProcessMetricsCollection))]
public sealed partial class MetricsTests
{
    /// <summary>One sample line of the Prometheus text format: name, labels, value.</summary>
    private sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    /// <summary>
    /// The first silo's /metrics. Silos inside one process (this embedded cluster) share the process's meters,
    /// so each one's endpoint shows the whole process; a silo process of its own shows just itself.
    /// </summary>
    private static async Task<List<Sample>> Scrape(LocalCluster cluster)
    {
        using var http = new HttpClient();
        var samples = new List<Sample>();
        {
            string text = await http.GetStringAsync(cluster.Silos[0].Urls.First().TrimEnd('/') + "/metrics");
            foreach (var line in text.Split('\n').Where(l => l.Length > 0 && l[0] != '#'))
            {
                var m = SampleLine().Match(line);
                Assert.True(m.Success, $"not a Prometheus sample line: {line}");
                var labels = LabelPair().Matches(m.Groups["labels"].Value).ToDictionary(l => l.Groups[1].Value, l => l.Groups[2].Value);
                samples.Add(new Sample(m.Groups["name"].Value, labels, double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture)));
            }
        }
        return samples;
    }

    /// <summary>The sum of a metric's samples that carry the given labels.</summary>
    private static double Sum(List<Sample> samples, string name, params (string Key, string Value)[] labels)
    {
        var matching = samples.Where(s => s.Name == name && labels.All(l => s.Labels.GetValueOrDefault(l.Key) == l.Value)).ToList();
        Assert.True(matching.Count > 0, $"no {name}{{{string.Join(",", labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}} among: " +
            string.Join(" ", samples.Select(s => s.Name).Distinct().Where(n => n.StartsWith("lwf", StringComparison.Ordinal))));
        return matching.Sum(s => s.Value);
    }

    [Fact]
    public async Task A_job_shows_on_metrics_as_its_report_says()
    {
        const string jobId = "metrics-job";
        string results = Repo.NewTempDir();
        await using var cluster = await LocalCluster.StartAsync(2, Repo.NewTempDir(), settings: new Dictionary<string, string?> { ["Lwf:ShardsPerJob"] = "4" });
        var trainer = cluster.Client.GetGrain<ITrainerGrain>(jobId);
        Assert.NotEqual(JobPhase.Failed, (await trainer.Submit(new JobRequest(Repo.Path("cluster", "jobs", "tiny-lwf.yaml")))).Phase);

        // Mid-job: some tokens counted, not yet all.
        var status = await trainer.GetStatus();
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (status.Step < 4 && !status.Phase.IsFinal() && DateTime.UtcNow < deadline) { await Task.Delay(100); status = await trainer.GetStatus(); }
        double tokensMid = Sum(await Scrape(cluster), "lwf_tokens_total", (LwfMetrics.JobLabel, jobId));

        var done = await ClusterEquivalenceTests.RunOnCluster(cluster, jobId, Repo.Path("cluster", "jobs", "tiny-lwf.yaml"), results);
        Assert.Equal(JobPhase.Done, done.Phase);
        var report = LwfReport.Load(Path.Combine(results, "report.json"));
        var end = await Scrape(cluster);

        double tokensEnd = Sum(end, "lwf_tokens_total", (LwfMetrics.JobLabel, jobId));
        Assert.True(tokensMid > 0 && tokensEnd > tokensMid, $"tokens {tokensMid} mid-job, {tokensEnd} at the end");
        double inputTokens = Sum(end, "lwf_input_tokens_total", (LwfMetrics.JobLabel, jobId));
        Assert.True(inputTokens > tokensEnd, $"input tokens {inputTokens} should exceed the loss tokens {tokensEnd} (prompts and first tokens carry no loss)");
        Assert.Equal(report.LearningSteps, Sum(end, "lwf_optimizer_steps_total", (LwfMetrics.JobLabel, jobId)));
        Assert.True(report.ForgettingRecords > 0);
        Assert.Equal(report.ForgettingRecords, Sum(end, "lwf_forgetting_records_total", (LwfMetrics.JobLabel, jobId)));
        Assert.Equal(report.LearningSteps, Sum(end, "lwf_step_duration_seconds_count", (LwfMetrics.JobLabel, jobId)));

        double learningLoss = Sum(end, "lwf_learning_loss", (LwfMetrics.JobLabel, jobId)), forgettingLoss = Sum(end, "lwf_forgetting_loss", (LwfMetrics.JobLabel, jobId));
        Assert.True(double.IsFinite(learningLoss) && learningLoss > 0 && double.IsFinite(forgettingLoss) && forgettingLoss > 0, $"losses {learningLoss}, {forgettingLoss}");
        Assert.Equal(report.LearningLoss[^1].Loss, Sum(end, "lwf_learning_loss", (LwfMetrics.JobLabel, jobId)), 6);
        Assert.Equal(report.ForgettingLoss[^1].Loss, Sum(end, "lwf_forgetting_loss", (LwfMetrics.JobLabel, jobId)), 6);
        foreach (var result in report.After!.Results)
            Assert.Equal(result.Value, Sum(end, "lwf_eval_value", (LwfMetrics.JobLabel, jobId), ("set", result.Set), ("metric", result.Metric)), 6);
        Assert.Equal(report.Forgetting!.Selected, Sum(end, "lwf_forgetting_set_size", (LwfMetrics.JobLabel, jobId)));
        Assert.Equal(report.Forgetting.SelfGenerated * 2, Sum(end, "lwf_forgetting_confidence_count", (LwfMetrics.JobLabel, jobId))); // chosen at the start and at the refresh (step 6)
        double fisherMean = Sum(end, "lwf_fisher_mean", (LwfMetrics.JobLabel, jobId)), fisherMax = Sum(end, "lwf_fisher_max", (LwfMetrics.JobLabel, jobId));
        Assert.True(fisherMean > 0 && fisherMax >= fisherMean && double.IsFinite(fisherMax), $"Fisher mean {fisherMean}, max {fisherMax}");

        Assert.Equal(1, Sum(end, "lwf_jobs", ("state", "done")));
        Assert.Equal(0, Sum(end, "lwf_jobs", ("state", "training")));
        Assert.True(Sum(end, "lwf_dataplane_bytes_total", ("direction", "sent")) > 0);
        Assert.True(Sum(end, "lwf_dataplane_bytes_total", ("direction", "received")) > 0);
        Assert.True(Sum(end, "lwf_replica_sync_duration_seconds_count") >= report.LearningSteps);
        Assert.Contains(end, s => s.Name.StartsWith("orleans_", StringComparison.Ordinal)); // Orleans' own meter

        // Every Grafana panel and variable, and every alerting rule, reads metrics and labels this job exported: no
        // panel is empty and no alert silent by a typo. `up` is Prometheus' own (one per target).
        var exported = end.GroupBy(s => s.Name).ToDictionary(g => g.Key, g => g.SelectMany(s => s.Labels.Keys).ToHashSet());
        exported["up"] = [];
        foreach (var query in MonitoringQueries.DashboardQueries().Concat(MonitoringQueries.AlertRules()))
        {
            foreach (string metric in query.Metrics)
                Assert.True(exported.ContainsKey(metric), $"{query.Where}: {metric} is not exported (query: {query.Expression})");
            var labels = query.Metrics.SelectMany(m => exported[m]).Concat(TargetLabels).ToHashSet();
            foreach (string label in query.Labels)
                Assert.True(labels.Contains(label), $"{query.Where}: no series of {string.Join(", ", query.Metrics)} has the label {label} (query: {query.Expression})");
        }
    }

    /// <summary>Labels Prometheus itself adds at scrape time (cluster/prometheus/prometheus.yml and the chart's ServiceMonitor).</summary>
    private static readonly string[] TargetLabels = ["instance", "job", "namespace", "pod", "silo_kind"];

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>[^\s]+)(\s+\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"")]
    private static partial Regex LabelPair();
}
