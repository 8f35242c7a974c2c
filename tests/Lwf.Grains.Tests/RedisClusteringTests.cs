using Lwf.Abstractions;
using Lwf.Silo;

namespace Lwf.Grains.Tests;

/// <summary>
/// Silos that find each other through a real redis-server (Cluster:Clustering=redis). `.ci/run` installs
/// and starts one and sets LWF_REDIS; elsewhere the test is skipped, saying why.
/// </summary>
public sealed class RedisClusteringTests
{
    [SkippableFact]
    public async Task Two_silos_cluster_through_redis_and_run_a_job()
    {
        string? redis = Environment.GetEnvironmentVariable("LWF_REDIS");
        Skip.If(string.IsNullOrEmpty(redis), "LWF_REDIS is not set (host:port of a redis-server; .ci/run starts one)");
        string clusterId = "redis-test-" + Guid.NewGuid().ToString("N")[..8];
        var settings = new Dictionary<string, string?>
        {
            ["Cluster:Clustering"] = "redis",
            ["Cluster:RedisConnectionString"] = redis,
            ["Cluster:ClusterId"] = clusterId,
            ["Cluster:AdvertisedAddress"] = "127.0.0.1",
            ["Lwf:ShardsPerJob"] = "4",
        };
        string outDir = Repo.NewTempDir();
        await using var cluster = await LocalCluster.StartAsync(2, Repo.NewTempDir(), settings: settings);
        var hosts = await cluster.Client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        Assert.Equal(2, hosts.Count);
        var status = await ClusterEquivalenceTests.RunOnCluster(cluster, "redis-job", Repo.Path("cluster", "jobs", "tiny-lwf.yaml"), outDir);
        Assert.Equal(2, status.ShardsPerSilo.Count);
        Assert.True(File.Exists(Path.Combine(outDir, "model", "model.safetensors")));
    }
}
