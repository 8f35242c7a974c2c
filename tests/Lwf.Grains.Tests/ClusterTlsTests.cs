using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Grains.Security;
using Lwf.Grains.Transport;
using Lwf.Silo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Lwf.Grains.Tests;

/// <summary>
/// Mutual TLS against a real cluster on loopback: only a holder of a certificate from the cluster's own authority gets a
/// gateway connection or a data-plane frame in; a client without one, or with another authority's, gets nothing.
/// </summary>
public sealed class ClusterTlsTests
{
    /// <summary>An Orleans client of the cluster's first gateway, with the given certificates (none: plain TCP).</summary>
    /// <summary>
    /// How long a client that must be refused is given to connect (it retries until this runs out, idle): long enough for
    /// a client the cluster takes, as the member's client below shows on the same machine, and the 30 s it was cost CI
    /// a minute of waiting.
    /// </summary>
    internal static readonly TimeSpan RefusedWithin = TimeSpan.FromSeconds(10);

    internal static async Task<IHost> Client(LocalCluster cluster, ClusterCertificates? certificates, TimeSpan? limit = null)
    {
        var silo = cluster.Silos[0];
        var ids = silo.Services.GetRequiredService<IOptions<ClusterOptions>>().Value;
        int gateway = int.Parse(silo.Configuration["Cluster:GatewayPort"]!);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering(new IPEndPoint(IPAddress.Loopback, gateway));
            client.Configure<ClusterOptions>(o => { o.ClusterId = ids.ClusterId; o.ServiceId = ids.ServiceId; });
            if (certificates is not null) client.UseClusterTls(certificates);
        });
        var host = builder.Build();
        try
        {
            using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromSeconds(60));
            await host.StartAsync(timeout.Token);
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    [Fact]
    public async Task Only_a_client_with_the_clusters_certificate_connects()
    {
        await using var cluster = await LocalCluster.StartAsync(1, Repo.NewTempDir());
        var (foreignAuthority, foreignClient) = ClusterCertificates.Create("someone else's");
        using var _ = foreignAuthority;
        using var __ = foreignClient;

        // No certificate at all (plain TCP), and a certificate of another authority: no connection.
        await Assert.ThrowsAnyAsync<Exception>(async () => (await Client(cluster, null, RefusedWithin)).Dispose());
        await Assert.ThrowsAnyAsync<Exception>(async () => (await Client(cluster, foreignClient, RefusedWithin)).Dispose());

        // The cluster's own client certificate: the client API answers.
        using var member = await Client(cluster, cluster.ClientCertificates);
        Assert.Empty(await member.Services.GetRequiredService<IClusterClient>().GetGrain<IJobDirectoryGrain>(0).List());
    }

    /// <summary>Sends one data-plane frame ([int32 key length][key][int64 length][payload]) over an authenticated stream.</summary>
    private static async Task SendFrame(Stream stream, string key, byte[] payload)
    {
        var keyBytes = Encoding.UTF8.GetBytes(key);
        var header = new byte[12 + keyBytes.Length];
        BinaryPrimitives.WriteInt32LittleEndian(header, keyBytes.Length);
        keyBytes.CopyTo(header, 4);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(4 + keyBytes.Length), payload.Length);
        await stream.WriteAsync(header);
        await stream.WriteAsync(payload);
        await stream.FlushAsync();
    }

    private static Task<SslStream> Handshake(string endpoint, ClusterCertificates certificates) =>
        Handshake(int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..]), certificates);

    private static async Task<SslStream> Handshake(int port, ClusterCertificates certificates)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await tls.AuthenticateAsClientAsync(certificates.ClientOptions(), limit.Token);
            return tls;
        }
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
    }

    [Fact]
    public async Task The_data_plane_takes_frames_from_members_only()
    {
        await using var cluster = await LocalCluster.StartAsync(1, Repo.NewTempDir());
        var plane = cluster.Silos[0].Services.GetRequiredService<DataPlane>();
        var (foreignAuthority, foreignClient) = ClusterCertificates.Create("someone else's");
        using var _ = foreignAuthority;
        using var __ = foreignClient;

        // Another authority's certificate: the handshake fails on one side or the other, and its frame never arrives.
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var stranger = await Handshake(plane.Endpoint, foreignAuthority);
            await SendFrame(stranger, "tls-test/stranger", [1, 2, 3]);
            Assert.Equal(0, await stranger.ReadAsync(new byte[1])); // the server closed it
            throw new IOException("closed");
        });
        await Assert.ThrowsAsync<TimeoutException>(() => plane.ReceiveAsync("tls-test/stranger", TimeSpan.FromSeconds(2), CancellationToken.None));

        // Plain TCP speaking the frame format: not a TLS hello, so nothing is parked.
        using (var plain = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            int colon = plane.Endpoint.LastIndexOf(':');
            await plain.ConnectAsync(IPAddress.Loopback, int.Parse(plane.Endpoint[(colon + 1)..]));
            await SendFrame(new NetworkStream(plain), "tls-test/plain", [4, 5, 6]);
            await Assert.ThrowsAsync<TimeoutException>(() => plane.ReceiveAsync("tls-test/plain", TimeSpan.FromSeconds(2), CancellationToken.None));
        }

        // The cluster's own client certificate: a client is no silo, so its frame never arrives either.
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var client = await Handshake(plane.Endpoint, cluster.ClientCertificates);
            await SendFrame(client, "tls-test/client", [7, 8, 9]);
            Assert.Equal(0, await client.ReadAsync(new byte[1]));
            throw new IOException("closed");
        });
        await Assert.ThrowsAsync<TimeoutException>(() => plane.ReceiveAsync("tls-test/client", TimeSpan.FromSeconds(2), CancellationToken.None));

        // A silo's frame arrives whole.
        await using var member = await Handshake(plane.Endpoint, cluster.Certificates);
        var payload = Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray();
        await SendFrame(member, "tls-test/member", payload);
        var received = await plane.ReceiveAsync("tls-test/member", TimeSpan.FromSeconds(30), CancellationToken.None);
        try
        {
            Assert.Equal(payload, received.Span.ToArray());
        }
        finally
        {
            received.Return();
        }
    }

    /// <summary>
    /// Whether a TLS connection to <paramref name="port"/> with <paramref name="certificates"/> is refused: the handshake
    /// fails, or (TLS 1.3 checks the client's certificate after the client is done) the first read finds it closed. A
    /// connection that delivers a byte or stays open for 3 s was let in.
    /// </summary>
    private static async Task<bool> Refused(int port, ClusterCertificates certificates)
    {
        try
        {
            await using var tls = await Handshake(port, certificates);
            var read = tls.ReadAsync(new byte[1]).AsTask();
            if (await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(3))) != read) return false;
            return await read == 0;
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or SocketException)
        {
            return true;
        }
    }

    [Fact]
    public async Task A_client_certificate_gets_through_the_gateway_but_not_the_silo_port()
    {
        await using var cluster = await LocalCluster.StartAsync(1, Repo.NewTempDir());
        var configuration = cluster.Silos[0].Configuration;
        int siloPort = int.Parse(configuration["Cluster:SiloPort"]!), gatewayPort = int.Parse(configuration["Cluster:GatewayPort"]!);

        // A silo's certificate at the silo port: the handshake completes and the connection stays open (Orleans' preamble comes).
        Assert.False(await Refused(siloPort, cluster.Certificates));
        // A client's certificate, of the same authority: refused at the silo port ...
        Assert.True(await Refused(siloPort, cluster.ClientCertificates));
        // ... while the gateway lets it in, and a silo never runs on it.
        Assert.False(await Refused(gatewayPort, cluster.ClientCertificates));
        var asSilo = Assert.Throws<LwfInputException>(() => ClusterTls.UseClusterTls((ISiloBuilder)null!, cluster.ClientCertificates));
        Assert.Contains("a silo needs a silo's certificate", asSilo.Message);
    }

    [Fact]
    public void Certificates_survive_their_files_readable_by_their_owner_only()
    {
        string root = Repo.NewTempDir(), dir = Path.Combine(root, "silo"), clientDir = Path.Combine(root, "client");
        var (made, madeClient) = ClusterCertificates.Create("test");
        using var _ = made;
        using var __ = madeClient;
        made.Save(dir);
        madeClient.Save(clientDir);
        foreach (string file in ClusterCertificates.Files)
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, file)));
        using var loaded = ClusterCertificates.Load(dir, ClusterRole.Silo);
        using var loadedClient = ClusterCertificates.Load(clientDir);
        Assert.Equal((ClusterRole.Silo, ClusterRole.Client), (loaded.Role, loadedClient.Role));
        Assert.True(loaded.Admits(made.Member, ClusterRole.Silo));
        Assert.True(made.Admits(loaded.Member, ClusterRole.Silo));
        // A client's certificate opens the client door only; a silo's opens both.
        Assert.True(loaded.Admits(loadedClient.Member, ClusterRole.Client));
        Assert.False(loaded.Admits(loadedClient.Member, ClusterRole.Silo));
        Assert.True(loadedClient.Admits(loaded.Member, ClusterRole.Client));
        var (other, otherClient) = ClusterCertificates.Create("other");
        using var ___ = other;
        using var ____ = otherClient;
        Assert.False(loaded.Admits(other.Member, ClusterRole.Silo));
        Assert.False(loaded.Admits(otherClient.Member, ClusterRole.Client));
        Assert.False(other.Admits(loaded.Member, ClusterRole.Client));
        // The authority itself is no member (it may not authenticate a connection).
        Assert.False(loaded.Admits(loaded.Authority, ClusterRole.Client));

        // A client's folder where a silo's is needed: refused, naming the file and both roles.
        var wrongRole = Assert.Throws<LwfInputException>(() => ClusterCertificates.Load(clientDir, ClusterRole.Silo));
        Assert.Contains(Path.Combine(clientDir, ClusterCertificates.CertificateFile) + ": a client's certificate", wrongRole.Message);

        // A member certificate of one authority beside another's ca.crt: refused, naming the file.
        string otherDir = Path.Combine(Repo.NewTempDir(), "tls");
        other.Save(otherDir);
        File.Copy(Path.Combine(otherDir, ClusterCertificates.AuthorityFile), Path.Combine(dir, ClusterCertificates.AuthorityFile), overwrite: true);
        var mixed = Assert.Throws<LwfInputException>(() => ClusterCertificates.Load(dir));
        Assert.Contains("not issued by the authority", mixed.Message);
        File.Delete(Path.Combine(dir, ClusterCertificates.KeyFile));
        var missing = Assert.Throws<LwfInputException>(() => ClusterCertificates.Load(dir));
        Assert.Contains(Path.Combine(dir, ClusterCertificates.KeyFile) + ": not found", missing.Message);
    }
}
