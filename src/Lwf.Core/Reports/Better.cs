namespace Lwf.Core.Reports;

/// <summary>
/// Which way is better, for table headers: ↑ for a learning metric, ↓ for perplexity and for the forgetting task's
/// accuracy (lower means more forgotten, which is what LWF is for).
/// </summary>
public static class Better
{
    public static string Arrow(string set, string metric) => metric == "perplexity" || set == "forget" ? "↓" : "↑";

    /// <summary>"accuracy ↑", "perplexity ↓".</summary>
    public static string Marked(string set, string metric) => metric.Length == 0 ? Arrow(set, metric) : $"{metric} {Arrow(set, metric)}";
}
