using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Lwf.Abstractions;
using Lwf.Grains.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Lwf.EndToEnd.Tests;

/// <summary>Real silo processes attacked from outside: where they listen, who may call them, what a stranger gets from the data plane.</summary>
public sealed class ClusterSecurityTests
{
    [Fact]
    public void In_localhost_mode_every_listener_of_a_silo_is_on_loopback()
    {
        var lwf = TinyJobs.InRepo();
        lwf.Ok("cluster", "up", "--silos", "2");
        try
        {
            var pids = lwf.Silos().Select(s => s.Pid).ToHashSet();
            var ss = Process.Start(new ProcessStartInfo("ss", "-H -ltnp") { RedirectStandardOutput = true, UseShellExecute = false })!;
            string listing = ss.StandardOutput.ReadToEnd();
            ss.WaitForExit();
            // Each listening socket of a silo process: silo port, gateway, data plane, metrics. ss prints the local address in column 4.
            var mine = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Where(line => pids.Any(pid => line.Contains($"pid={pid},"))).ToList();
            Assert.True(mine.Count >= 4 * pids.Count, $"expected every silo's four listeners in:\n{listing}");
            foreach (var line in mine)
            {
                string local = line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3];
                Assert.True(local.StartsWith("127.0.0.1:", StringComparison.Ordinal) || local.StartsWith("[::1]:", StringComparison.Ordinal),
                    $"a silo listens beyond loopback: {line}");
            }
        }
        finally
        {
            lwf.Run("cluster", "down");
        }
    }

    /// <summary>An Orleans client built here, as an attacker would, with the client certificate `lwf cluster up` made for its console.</summary>
    private static async Task<IHost> OwnClient(string home)
    {
        using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(home, "cluster.json")));
        string clusterId = state.RootElement.GetProperty("ClusterId").GetString()!;
        int gateway = state.RootElement.GetProperty("Silos")[0].GetProperty("GatewayPort").GetInt32();
        var certificates = ClusterCertificates.Load(Path.Combine(home, "tls", ClusterCertificates.ClientFolder), ClusterRole.Client);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering(new IPEndPoint(IPAddress.Loopback, gateway));
            client.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = "lwf"; });
            client.UseClusterTls(certificates);
            // The refusal comes when the call reaches the grain: a job's coordinator busy with a learning step (a long
            // one under CI's load) takes the call after it, later than Orleans' default 30 s (one CI run timed out).
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromMinutes(5));
        });
        var host = builder.Build();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await host.StartAsync(limit.Token);
        return host;
    }

    [Fact]
    public async Task Cluster_up_makes_its_own_authority_and_a_client_without_its_certificate_is_refused_in_one_line()
    {
        var lwf = TinyJobs.InRepo();
        lwf.Ok("cluster", "up", "--silos", "1");
        try
        {
            foreach (string role in new[] { "silo", "client" })
                foreach (string file in new[] { "ca.crt", "tls.crt", "tls.key" })
                    if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(lwf.Home, "tls", role, file)));
            lwf.Ok("status"); // the cluster's own client certificate: in

            // Two tenants from the cluster's own authority ($LWF_HOME/tls/authority): Alice's job is hers and the
            // operator's (the cluster's client folder), and Bob is refused it in one line each, exit 2.
            string issued = lwf.Ok("cluster", "certs", "--out", Path.Combine(lwf.Home, "tls"), "--client", "alice", "--client", "bob");
            Assert.Contains("client 'bob'", issued);
            Lwf Tenant(string name) => new(lwf.Home) { Env = { ["Cluster__TlsDirectory"] = Path.Combine(lwf.Home, "tls", "clients", name) }, WorkingDirectory = lwf.WorkingDirectory };
            string victim = Tenant("alice").Ok("submit", "--on-cluster", TinyJobs.Job).Trim().Split('\n')[^1];
            foreach (var command in new[] { new[] { "watch", victim }, ["cancel", victim], ["logs", victim], ["results", victim, "--out", Path.Combine(Lwf.NewTempDir(), "r")] })
            {
                var (code, stdout, stderr) = Tenant("bob").Run(command);
                var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.True(code == 2 && lines.Length == 1 && lines[0] == $"error: no job '{victim}' on this cluster (`lwf status` lists them)",
                    $"bob: lwf {string.Join(' ', command)}: exit {code}\n{stdout}\n{stderr}");
            }
            Assert.DoesNotContain(victim, Tenant("bob").Ok("status"));
            Assert.Contains(victim, Tenant("alice").Ok("status"));

            // A program of the attacker's own making that holds the operator's client certificate gets in, but to the
            // client API only: not to a running job's shard or coordinator.
            using (var attacker = await OwnClient(lwf.Home))
            {
                var client = attacker.Services.GetRequiredService<IClusterClient>();
                Assert.Contains(victim, await client.GetGrain<IJobDirectoryGrain>(0).List());
                var prepare = await Assert.ThrowsAnyAsync<Exception>(async () =>
                    await client.GetGrain<IShardGrain>(new ShardKey(victim, 0).ToString()).Prepare(new ShardSetup(TinyJobs.Job, 0, 2, Lwf.NewTempDir(), null)));
                Assert.Equal("IShardGrain.Prepare is not part of the client API: only the cluster's silos call it", prepare.Message);
                var step = await Assert.ThrowsAnyAsync<Exception>(async () => await client.GetGrain<ICoordinatorGrain>(victim).LearningStep([0], [], false));
                Assert.Equal("ICoordinatorGrain.LearningStep is not part of the client API: only the cluster's silos call it", step.Message);
                await attacker.StopAsync(TimeSpan.FromSeconds(5));
            }
            var (victimCode, victimOut, victimErr) = lwf.Run("watch", victim); // the operator's
            Assert.True(victimCode == 0, victimOut + victimErr);
            Assert.Contains($"{victim}: done", lwf.Ok("status", victim));

            // Plain TCP, and another authority's certificate (made by `lwf cluster certs`): one error line, exit 2.
            string foreign = Path.Combine(Lwf.NewTempDir(), "foreign");
            Assert.Contains("wrote", lwf.Ok("cluster", "certs", "--out", foreign));
            var twice = lwf.Run("cluster", "certs", "--out", foreign);
            Assert.Equal(2, twice.ExitCode);
            Assert.Contains($"already holds a cluster's authority ({Path.Combine(foreign, "authority")})", twice.Stderr);
            foreach (var (key, value) in new[] { ("Cluster__Tls", "off"), ("Cluster__TlsDirectory", Path.Combine(foreign, "client")) })
            {
                var stranger = new Lwf(lwf.Home);
                stranger.Env[key] = value;
                var (code, stdout, stderr) = stranger.Run("status");
                Assert.True(code == 2, $"{key}={value}: exit {code}\n{stdout}\n{stderr}");
                var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                // Told why, and without waiting out the connection's 30 s: the gateways took the connection and closed it.
                Assert.True(lines.Length == 1 && lines[0].StartsWith("error: could not reach the cluster", StringComparison.Ordinal)
                    && lines[0].Contains("the gateways closed the connection in its handshake"), $"{key}={value}:\n{stderr}");
            }
            Assert.All(lwf.Silos(), s => Assert.False(Process.GetProcessById(s.Pid).HasExited));
        }
        finally
        {
            lwf.Run("cluster", "down");
        }
    }

    [Fact]
    public void The_data_plane_gives_a_stranger_no_byte_and_two_thousand_idle_connections_do_not_keep_a_job_out()
    {
        var lwf = TinyJobs.InRepo();
        lwf.Ok("cluster", "up", "--silos", "2");
        var idle = new List<Socket>();
        try
        {
            var ports = DataPlanePorts(lwf);
            Assert.Equal(2, ports.Count);
            // A stranger that connects and says nothing: not one byte back, and closed within the read timeout (30 s).
            using (var stranger = new Socket(SocketType.Stream, ProtocolType.Tcp))
            {
                stranger.Connect(IPAddress.Loopback, ports[0]);
                stranger.ReceiveTimeout = 90_000;
                var clock = Stopwatch.StartNew();
                Assert.Equal(0, stranger.Receive(new byte[64])); // an orderly close with no data
                Assert.InRange(clock.Elapsed.TotalSeconds, 25, 60);
            }
            // 2,000 idle connections, 1,000 on each silo's data plane (whose cap is 256), then a job: the ring's peers
            // connect while the idle ones are still open, and must get in.
            foreach (int port in ports)
                for (int i = 0; i < 1000; i++)
                {
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    socket.Connect(IPAddress.Loopback, port);
                    idle.Add(socket);
                }
            string id = lwf.Ok("submit", "--on-cluster", TinyJobs.Job).Trim().Split('\n')[^1];
            var (code, stdout, stderr) = lwf.Run("watch", id);
            Assert.True(code == 0, stdout + stderr);
            Assert.Contains($"{id}: done", lwf.Ok("status", id));
            Assert.All(lwf.Silos(), s => Assert.True(Process.GetProcessById(s.Pid) is { HasExited: false }));
            string logs = string.Concat(Directory.GetFiles(lwf.Home, "silo-*.log").Select(File.ReadAllText));
            Assert.Contains("closed the one that had waited longest without a whole frame header", logs);
            Assert.DoesNotContain("Unhandled exception", logs);
        }
        finally
        {
            foreach (var socket in idle) socket.Dispose();
            lwf.Run("cluster", "down");
        }
    }

    /// <summary>Each silo's data-plane port: the one of its listeners that is not its silo, gateway or HTTP port.</summary>
    private static List<int> DataPlanePorts(Lwf lwf)
    {
        using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(lwf.Home, "cluster.json")));
        var ss = Process.Start(new ProcessStartInfo("ss", "-H -ltnp") { RedirectStandardOutput = true, UseShellExecute = false })!;
        string listing = ss.StandardOutput.ReadToEnd();
        ss.WaitForExit();
        return state.RootElement.GetProperty("Silos").EnumerateArray().Select(silo =>
        {
            var known = new[] { "SiloPort", "GatewayPort", "HttpPort" }.Select(p => silo.GetProperty(p).GetInt32()).ToHashSet();
            int pid = silo.GetProperty("Pid").GetInt32();
            return listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(line => line.Contains($"pid={pid},"))
                .Select(line => int.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3].Split(':')[^1]))
                .Single(port => !known.Contains(port));
        }).ToList();
    }
}
