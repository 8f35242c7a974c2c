using System.Net;
using System.Net.Sockets;
using Lwf.Grains.Security;

namespace Lwf.Silo;

/// <summary>
/// N silos inside this process, talking real TCP on loopback (localhost clustering, the first silo as the
/// primary): the embedded default of `lwf run`, and the cluster of the in-process tests.
/// </summary>
public sealed class LocalCluster : IAsyncDisposable
{
    private readonly List<WebApplication> _silos;

    private LocalCluster(List<WebApplication> silos, ClusterAuthority authority, ClusterCertificates certificates, ClusterCertificates clientCertificates)
    {
        _silos = silos;
        Authority = authority;
        Certificates = certificates;
        ClientCertificates = clientCertificates;
    }

    public IReadOnlyList<WebApplication> Silos => _silos;

    /// <summary>The authority made for this cluster alone when it starts: it issues clients of any subject (tests of tenants).</summary>
    public ClusterAuthority Authority { get; }

    /// <summary>The silos' TLS identity, made for this cluster alone when it starts.</summary>
    public ClusterCertificates Certificates { get; }

    /// <summary>An operator's client TLS identity from the same authority (a client from outside needs one to connect).</summary>
    public ClusterCertificates ClientCertificates { get; }

    /// <summary>A client of the cluster (the first silo's own).</summary>
    public IClusterClient Client => _silos[0].Services.GetRequiredService<IClusterClient>();

    public static async Task<LocalCluster> StartAsync(int silos, string checkpointDirectory, string device = "cpu",
        IReadOnlyDictionary<string, string?>? settings = null)
    {
        if (silos < 1) throw new ArgumentOutOfRangeException(nameof(silos), silos, "at least one silo");
        // Ports are free when chosen, but another process may take one before the silo binds it: choose again.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnFreePortsAsync(silos, checkpointDirectory, device, settings);
            }
            catch (Exception e) when (attempt < 5 && AddressInUse(e)) { }
        }
    }

    private static bool AddressInUse(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse }
                || e.GetType().Name == "AddressInUseException")
                return true;
        return false;
    }

    private static async Task<LocalCluster> StartOnFreePortsAsync(int silos, string checkpointDirectory, string device,
        IReadOnlyDictionary<string, string?>? settings)
    {
        var ports = FreePorts(3 * silos);
        var started = new List<WebApplication>();
        var authority = ClusterAuthority.Create($"lwf-embedded-{ports[0]}");
        var certificates = authority.Issue(ClusterRole.Silo);
        var clientCertificates = authority.Issue(ClusterRole.Client, new ClientIdentity(ClientIdentity.Admin, IsOperator: true));
        try
        {
            for (int i = 0; i < silos; i++)
            {
                var config = new Dictionary<string, string?>
                {
                    ["Cluster:Clustering"] = ClusteringMode.Localhost,
                    ["Cluster:ClusterId"] = $"lwf-embedded-{ports[0]}",
                    ["Cluster:SiloPort"] = ports[3 * i].ToString(),
                    ["Cluster:GatewayPort"] = ports[3 * i + 1].ToString(),
                    ["Lwf:DataPlanePort"] = ports[3 * i + 2].ToString(),
                    ["Lwf:DataPlaneHost"] = "127.0.0.1",
                    ["Cluster:PrimarySiloPort"] = ports[0].ToString(),
                    ["Lwf:Device"] = device,
                    ["Lwf:CheckpointDirectory"] = checkpointDirectory,
                    // Only this process can submit to an embedded cluster (its authority lives in this process's memory,
                    // its ports on loopback): the jobs are the caller's own, and may name any file the caller can read.
                    ["Lwf:DataRoot"] = "/",
                    ["Urls"] = "http://127.0.0.1:0",
                    ["Logging:LogLevel:Default"] = "Warning",
                    ["Logging:LogLevel:Orleans"] = "Error",
                };
                if (settings is not null) foreach (var (k, v) in settings) config[k] = v;
                var app = LwfSiloHost.Build([], c => c.AddInMemoryCollection(config), certificates);
                await app.StartAsync();
                started.Add(app);
            }
            return new LocalCluster(started, authority, certificates, clientCertificates);
        }
        catch
        {
            foreach (var app in started) await app.DisposeAsync();
            certificates.Dispose();
            clientCertificates.Dispose();
            authority.Dispose();
            throw;
        }
    }

    /// <summary>Stops one silo abruptly (for fault tests): its grains are lost, the others go on.</summary>
    public async Task KillAsync(int index)
    {
        await _silos[index].StopAsync(new CancellationToken(canceled: true));
    }

    public async ValueTask DisposeAsync()
    {
        for (int i = _silos.Count - 1; i >= 0; i--)
        {
            try { await _silos[i].StopAsync(); } catch (Exception) { }
            await _silos[i].DisposeAsync();
        }
        Certificates.Dispose();
        ClientCertificates.Dispose();
        Authority.Dispose();
    }

    /// <summary>Ports free right now on loopback (all held open until every one is chosen).</summary>
    public static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        foreach (var l in listeners) l.Start();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }
}
