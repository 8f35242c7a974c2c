using Xunit.Abstractions;

namespace Lwf.Tests;

/// <summary>
/// Starts the test classes that take longest first (longest-processing-time scheduling), where a project runs two
/// classes at a time: started last, a long class runs alone at the end with one core of two idle. xUnit's own order
/// is a hash of the collection's id. Unlisted classes, the quick ones, come after the listed, in xUnit's order.
/// </summary>
public sealed class LongestFirst : ITestCollectionOrderer
{
    /// <summary>
    /// Seconds from a class's first test's start to its last test's end, in the fresh-clone CI of 2026-12-07 19:06
    /// (its .trx files, end-to-end and Grains projects). Only the order matters: refresh it when a class grows.
    /// </summary>
    private static readonly Dictionary<string, int> CiSeconds = new(StringComparer.Ordinal)
    {
        ["MultiProcessClusterTests"] = 452, ["PartitionTests"] = 379, ["SiloFaultTests"] = 359, ["InterruptTests"] = 245,
        ["BadInputTests"] = 197, ["ClusterSecurityTests"] = 181, ["ConsoleOutputTests"] = 81, ["HelmChartTests"] = 55, ["DemoTests"] = 41,
        ["RedisClusteringTests"] = 253, ["ClusterEquivalenceTests"] = 242, ["JobLifecycleTests"] = 209, ["ClientCallFilterTests"] = 73,
        ["ClusterTlsTests"] = 38, ["TenantTests"] = 22,
    };

    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections.OrderByDescending(c => CiSeconds.GetValueOrDefault(ClassName(c)));

    /// <summary>"Test collection for Lwf.Grains.Tests.JobLifecycleTests" (a class's own collection) → "JobLifecycleTests".</summary>
    private static string ClassName(ITestCollection collection) => collection.DisplayName[(collection.DisplayName.LastIndexOfAny([' ', '.']) + 1)..];
}
