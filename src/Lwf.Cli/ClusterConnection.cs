using System.Net;
using Lwf.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Lwf.Cli;

/// <summary>
/// An Orleans client of a running cluster: `--gateway host:port[,host:port]`, else the cluster `lwf cluster up`
/// started, else configuration (environment Cluster__Clustering=redis with Cluster__RedisConnectionString).
/// </summary>
internal sealed class ClusterConnection : IAsyncDisposable
{
    private readonly IHost _host;

    private ClusterConnection(IHost host) => _host = host;

    public IClusterClient Client => _host.Services.GetRequiredService<IClusterClient>();

    public static async Task<ClusterConnection> ConnectAsync(string? gateway)
    {
        var config = new ConfigurationBuilder().AddEnvironmentVariables().Build();
        string clusterId = config["Cluster:ClusterId"] ?? "lwf", serviceId = config["Cluster:ServiceId"] ?? "lwf";
        var builder = Host.CreateApplicationBuilder();
        // stdout is the command's answer (a job id, a table): the client's own logs go to stderr, warnings only.
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Orleans", LogLevel.Error);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.UseOrleansClient(client =>
        {
            if (gateway is not null)
                client.UseStaticClustering(ParseGateways(gateway));
            else if (config["Cluster:Clustering"] == "redis")
                client.UseRedisClustering(config["Cluster:RedisConnectionString"]
                    ?? throw new LwfInputException("Cluster__RedisConnectionString is not set"));
            else if (ClusterState.Load() is { } state)
            {
                clusterId = state.ClusterId;
                client.UseStaticClustering(state.Silos.Select(s => new IPEndPoint(IPAddress.Loopback, s.GatewayPort)).ToArray());
            }
            else
                throw new LwfInputException($"no cluster to talk to: start one with `lwf cluster up`, or give --gateway HOST:PORT ({ClusterState.FilePath} does not exist)");
            client.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = serviceId; });
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromMinutes(10));
        });
        var host = builder.Build();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await host.StartAsync(timeout.Token);
        }
        catch (Exception e) when (e is not LwfInputException)
        {
            host.Dispose();
            throw new LwfInputException($"could not reach the cluster ({e.GetType().Name}: {e.Message})");
        }
        return new ClusterConnection(host);
    }

    private static IPEndPoint[] ParseGateways(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(part =>
        {
            int colon = part.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(part[(colon + 1)..], out int port))
                throw new LwfInputException($"--gateway '{part}' is not HOST:PORT");
            string host = part[..colon];
            var address = IPAddress.TryParse(host, out var ip) ? ip : Dns.GetHostAddresses(host).First();
            return new IPEndPoint(address, port);
        }).ToArray();

    public async ValueTask DisposeAsync()
    {
        try { await _host.StopAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { }
        _host.Dispose();
    }
}
