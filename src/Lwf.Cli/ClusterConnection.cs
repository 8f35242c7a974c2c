using System.Net;
using Lwf.Core;
using Lwf.Grains.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Lwf.Grains;
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
        var gateways = gateway is null ? null : ParseGateways(gateway); // a mistake in it is the user's, told before anything starts
        var certificates = Certificates(config);
        var retry = new ConnectRetryFilter();
        var builder = Host.CreateApplicationBuilder();
        // stdout is the command's answer (a job id, a table): the client's own logs go to stderr, warnings only.
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // Orleans' own errors while connecting repeat, with stack traces, what the one error line below says.
        builder.Logging.AddFilter("Orleans", LogLevel.Critical);
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.Critical);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.UseOrleansClient(client =>
        {
            if (gateway is not null)
                client.UseStaticClustering(gateways!);
            else if (config["Cluster:Clustering"] == Lwf.Silo.ClusteringMode.Redis)
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
            client.Services.AddLwfExceptionSerialization();
            client.Services.AddSingleton<IClientConnectionRetryFilter>(retry);
            if (certificates is not null) client.UseClusterTls(certificates);
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
            var cause = e;
            while (cause.InnerException is not null) cause = cause.InnerException;
            string why = retry.Refused
                ? "the gateways closed the connection in its handshake: this client's certificate is not of the cluster's authority " +
                  "(Cluster__TlsDirectory names the folder of ca.crt, tls.crt and tls.key), or TLS is off on one side only (Cluster__Tls)"
                : cause is OperationCanceledException ? "no gateway answered within 30 s" : cause.Message.TrimEnd('.');
            throw new LwfInputException($"could not reach the cluster at {gateway ?? "the gateways " + ClusterState.FilePath + " names"}: {why}");
        }
        return new ClusterConnection(host);
    }

    /// <summary>
    /// The client's certificates for mutual TLS: from Cluster__TlsDirectory, else from the client folder `lwf cluster up` made;
    /// none when Cluster__Tls=off (a cluster that runs without TLS).
    /// </summary>
    private static ClusterCertificates? Certificates(IConfiguration config)
    {
        if (config["Cluster:Tls"] is { } mode && mode != ClusterTls.Mutual)
            return mode == ClusterTls.Off ? null : throw new LwfInputException($"Cluster__Tls must be {ClusterTls.Mutual} or {ClusterTls.Off}, got '{mode}'");
        string directory = config["Cluster:TlsDirectory"] is { Length: > 0 } d ? d : ClusterState.ClientTlsDirectory;
        if (!Directory.Exists(directory))
            throw new LwfInputException($"no TLS files for the cluster in {directory}: `lwf cluster up` puts its own there; for another cluster copy a client's " +
                $"{ClusterCertificates.AuthorityFile}, {ClusterCertificates.CertificateFile} and {ClusterCertificates.KeyFile} (`lwf cluster certs` writes them to DIR/{ClusterCertificates.ClientFolder}) into a folder and set Cluster__TlsDirectory " +
                "(Cluster__Tls=off for a cluster that runs without TLS)");
        return ClusterCertificates.Load(directory);
    }

    private static IPEndPoint[] ParseGateways(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(part =>
        {
            int colon = part.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(part[(colon + 1)..], out int port))
                throw new LwfInputException($"--gateway '{part}' is not HOST:PORT");
            if (port is < 1 or > 65535) throw new LwfInputException($"--gateway '{part}': port {port} is outside 1..65535");
            string host = part[..colon].Trim('[', ']');
            if (IPAddress.TryParse(host, out var ip)) return new IPEndPoint(ip, port);
            try
            {
                return new IPEndPoint(Dns.GetHostAddresses(host).First(), port);
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or InvalidOperationException or ArgumentException)
            {
                throw new LwfInputException($"--gateway '{part}': host '{host}' does not resolve");
            }
        }).ToArray();

    public async ValueTask DisposeAsync()
    {
        try { await _host.StopAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { }
        _host.Dispose();
    }
}
