using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
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

    /// <summary>
    /// Redis goes away mid-job and comes back (a restart with its append-only file, as a Redis pod restarts on its
    /// volume): the silos go on talking to each other meanwhile (probes and the ring need no table) and the job ends
    /// done. A redis-server of the test's own, on a free port, so that the shared one of `.ci/run` stays up.
    /// </summary>
    [SkippableFact]
    public async Task A_job_survives_a_redis_restart()
    {
        string? server = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists);
        Skip.If(server is null, "redis-server is not installed (.ci/run installs it)");
        int port = FreePort();
        string dir = Repo.NewTempDir();
        Process StartRedis()
        {
            var redis = Process.Start(new ProcessStartInfo(server!, ["--port", port.ToString(), "--bind", "127.0.0.1", "--dir", dir,
                "--appendonly", "yes", "--appendfsync", "always", "--save", ""]) { RedirectStandardOutput = true })!;
            redis.BeginOutputReadLine();
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (!Answers(port) && DateTime.UtcNow < deadline) Thread.Sleep(100);
            Assert.True(Answers(port), $"redis-server did not answer on port {port}");
            return redis;
        }
        var redis = StartRedis();
        // The tiny job, longer: 28 steps after the outage begins, each at least two 200 ms frames.
        string job = Repo.Path("cluster", "jobs", $".redis-restart-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(job, File.ReadAllText(Repo.Path("cluster", "jobs", "tiny-lwf.yaml")).Replace("steps: 12", "steps: 30"));
        try
        {
            var settings = new Dictionary<string, string?>
            {
                ["Cluster:Clustering"] = "redis",
                ["Cluster:RedisConnectionString"] = $"127.0.0.1:{port}",
                ["Cluster:ClusterId"] = "redis-restart-" + Guid.NewGuid().ToString("N")[..8],
                ["Cluster:AdvertisedAddress"] = "127.0.0.1",
                ["Lwf:ShardsPerJob"] = "4",
                // Every frame waits 200 ms: the job's steps outlast the outage (a fast machine ran the tiny job to its end
                // inside it, and the job was then "final" while Redis was still down).
                ["Lwf:DataPlaneSendDelayMs"] = "200",
            };
            await using var cluster = await LocalCluster.StartAsync(2, Repo.NewTempDir(), settings: settings);
            var trainer = cluster.Client.GetGrain<ITrainerGrain>("through-a-restart");
            var status = await trainer.Submit(new JobRequest(job));
            var deadline = DateTime.UtcNow.AddMinutes(5);
            while (!(status = await trainer.GetStatus()).Phase.IsFinal() && status.Step < 2 && DateTime.UtcNow < deadline) await Task.Delay(200);
            Assert.False(status.Phase.IsFinal(), $"the job ended before Redis went away: {status.Phase} {status.Message}");

            redis.Kill();
            redis.WaitForExit();
            await Task.Delay(TimeSpan.FromSeconds(10)); // longer than a probe round and the membership's table refresh
            status = await trainer.GetStatus();
            Assert.False(status.Phase.IsFinal(), $"while Redis was down: {status.Phase} at step {status.Step}: {status.Message}");
            redis.Dispose();
            redis = StartRedis();

            while (!(status = await trainer.GetStatus()).Phase.IsFinal() && DateTime.UtcNow < deadline) await Task.Delay(200);
            Assert.True(status.Phase == JobPhase.Done, $"{status.Phase}: {status.Message}");
            Assert.Equal(2, (await cluster.Client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true)).Count);
        }
        finally
        {
            if (!redis.HasExited) redis.Kill();
            redis.Dispose();
            File.Delete(job);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Whether a redis-server on the port answers PING.</summary>
    private static bool Answers(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            using var stream = client.GetStream();
            stream.Write("PING\r\n"u8);
            var buffer = new byte[16];
            int n = stream.Read(buffer);
            return System.Text.Encoding.ASCII.GetString(buffer, 0, n).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
