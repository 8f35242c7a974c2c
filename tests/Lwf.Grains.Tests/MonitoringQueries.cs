using System.Text.Json;
using System.Text.RegularExpressions;

namespace Lwf.Grains.Tests;

/// <summary>
/// The PromQL the project ships: the Grafana dashboards under cluster/grafana/dashboards and the alerting rules
/// under cluster/prometheus/rules, and what each query asks Prometheus for: metric names and label names. A
/// query whose metric or label is not exported draws an empty panel, or an alert that never fires, without any
/// error, so MetricsTests holds them against a real scrape.
/// </summary>
internal static partial class MonitoringQueries
{
    /// <summary>One PromQL query of a dashboard: where it is, the metrics it reads and the labels it selects or groups by.</summary>
    public sealed record Query(string Where, string Expression, IReadOnlySet<string> Metrics, IReadOnlySet<string> Labels);

    public static string Folder => Repo.Path("cluster", "grafana", "dashboards");

    public static IReadOnlyList<string> Files => Directory.GetFiles(Folder, "*.json").Order(StringComparer.Ordinal).ToList();

    /// <summary>Every panel query and every variable query of every dashboard; fails on a dashboard that is not well formed.</summary>
    public static List<Query> DashboardQueries()
    {
        var queries = new List<Query>();
        var uids = new HashSet<string>();
        foreach (string file in Files)
        {
            string name = Path.GetFileName(file);
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            var root = doc.RootElement;
            string uid = root.GetProperty("uid").GetString()!;
            Assert.True(uids.Add(uid), $"{name}: uid {uid} is used by another dashboard");
            Assert.False(string.IsNullOrWhiteSpace(root.GetProperty("title").GetString()), $"{name}: no title");
            var panelIds = new HashSet<int>();
            foreach (var panel in root.GetProperty("panels").EnumerateArray())
            {
                string title = panel.GetProperty("title").GetString()!;
                Assert.True(panelIds.Add(panel.GetProperty("id").GetInt32()), $"{name}: panel id of '{title}' repeats");
                var grid = panel.GetProperty("gridPos");
                Assert.True(grid.GetProperty("x").GetInt32() + grid.GetProperty("w").GetInt32() <= 24, $"{name}: '{title}' is wider than the 24-column grid");
                Assert.Equal("${datasource}", panel.GetProperty("datasource").GetProperty("uid").GetString());
                var targets = panel.GetProperty("targets").EnumerateArray().ToList();
                Assert.True(targets.Count > 0, $"{name}: '{title}' has no query");
                foreach (var target in targets)
                {
                    string expr = target.GetProperty("expr").GetString()!;
                    Assert.False(string.IsNullOrWhiteSpace(expr), $"{name}: '{title}' has an empty query");
                    queries.Add(Parse($"{name} panel '{title}'", expr));
                }
            }
            foreach (var variable in root.GetProperty("templating").GetProperty("list").EnumerateArray()
                         .Where(v => v.GetProperty("type").GetString() == "query"))
            {
                string definition = variable.GetProperty("definition").GetString()!;
                var m = LabelValues().Match(definition);
                Assert.True(m.Success, $"{name}: variable {variable.GetProperty("name").GetString()} is not label_values(metric, label): {definition}");
                queries.Add(new Query($"{name} variable '{variable.GetProperty("name").GetString()}'", definition,
                    new HashSet<string> { m.Groups[1].Value }, new HashSet<string> { m.Groups[2].Value }));
            }
        }
        Assert.True(uids.Count >= 2, $"expected the training-job and cluster dashboards in {Folder}");
        return queries;
    }

    /// <summary>Every alerting rule's expression under cluster/prometheus/rules; fails on a rule without alert, expr or severity.</summary>
    public static List<Query> AlertRules()
    {
        var queries = new List<Query>();
        var deserializer = new YamlDotNet.Serialization.DeserializerBuilder().Build();
        foreach (string file in Directory.GetFiles(Repo.Path("cluster", "prometheus", "rules"), "*.yml").Order(StringComparer.Ordinal))
        {
            var root = deserializer.Deserialize<Dictionary<string, List<Dictionary<string, object>>>>(File.ReadAllText(file));
            foreach (var group in root["groups"])
                foreach (var rule in ((List<object>)group["rules"]).Cast<Dictionary<object, object>>())
                {
                    string alert = (string)rule["alert"];
                    Assert.True(((Dictionary<object, object>)rule["labels"]).ContainsKey("severity"), $"{alert}: no severity");
                    queries.Add(Parse($"{Path.GetFileName(file)} alert {alert}", (string)rule["expr"]));
                }
        }
        Assert.NotEmpty(queries);
        return queries;
    }

    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless", "inf", "nan",
    };

    /// <summary>The metric and label names of a PromQL expression (functions, keywords, strings, numbers and Grafana variables left out).</summary>
    public static Query Parse(string where, string expression)
    {
        string text = StringLiteral().Replace(expression, "\"\"");
        text = RangeSelector().Replace(text, "");
        var labels = new HashSet<string>(StringComparer.Ordinal);
        text = Selector().Replace(text, m =>
        {
            foreach (Match matcher in LabelMatcher().Matches(m.Groups[1].Value)) labels.Add(matcher.Groups[1].Value);
            return " ";
        });
        text = Grouping().Replace(text, m =>
        {
            foreach (string label in m.Groups[2].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) labels.Add(label);
            return " ";
        });
        text = GrafanaVariable().Replace(text, " ");
        var metrics = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match identifier in Identifier().Matches(text))
            if (!identifier.Groups["call"].Success && !Keywords.Contains(identifier.Groups["name"].Value))
                metrics.Add(identifier.Groups["name"].Value);
        return new Query(where, expression, metrics, labels);
    }

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex StringLiteral();

    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex RangeSelector();

    [GeneratedRegex(@"\{([^}]*)\}")]
    private static partial Regex Selector();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)")]
    private static partial Regex LabelMatcher();

    [GeneratedRegex(@"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")]
    private static partial Regex Grouping();

    [GeneratedRegex(@"\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?")]
    private static partial Regex GrafanaVariable();

    [GeneratedRegex(@"(?<![a-zA-Z0-9_:.])(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?<call>\s*\()?")]
    private static partial Regex Identifier();

    [GeneratedRegex(@"^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$")]
    private static partial Regex LabelValues();
}

public sealed class GrafanaDashboardTests
{
    [Fact]
    public void Metric_and_label_names_are_read_out_of_PromQL()
    {
        var q = MonitoringQueries.Parse("test",
            "histogram_quantile(0.95, sum by (le, kind) (rate(lwf_step_duration_seconds_bucket{job_id=~\"$job_id\", kind!=\"x(y)\"}[$__rate_interval]))) * 60 "
            + "/ on (silo) group_left lwf_jobs offset 5m + ignoring(instance) sum without (direction) (lwf_dataplane_bytes_total) > bool 1e3");
        Assert.Equal(["lwf_dataplane_bytes_total", "lwf_jobs", "lwf_step_duration_seconds_bucket"], q.Metrics.Order(StringComparer.Ordinal));
        Assert.Equal(["direction", "instance", "job_id", "kind", "le", "silo"], q.Labels.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_dashboard_is_well_formed_and_every_query_names_a_metric()
    {
        var queries = MonitoringQueries.DashboardQueries();
        Assert.All(queries, q => Assert.True(q.Metrics.Count > 0, $"{q.Where}: no metric in {q.Expression}"));
        Assert.Contains(queries, q => q.Where.StartsWith("lwf-training-job.json", StringComparison.Ordinal));
        Assert.Contains(queries, q => q.Where.StartsWith("lwf-cluster.json", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_alert_rule_has_a_severity_and_names_a_metric()
    {
        var rules = MonitoringQueries.AlertRules();
        Assert.All(rules, q => Assert.True(q.Metrics.Count > 0, $"{q.Where}: no metric in {q.Expression}"));
        Assert.Contains(rules, q => q.Metrics.Contains("lwf_jobs"));
    }
}
