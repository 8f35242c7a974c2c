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
        using var foreignAuthority = ClusterCertificates.Create("someone else's");

        // No certificate at all (plain TCP), and a certificate of another authority: no connection.
        await Assert.ThrowsAnyAsync<Exception>(async () => (await Client(cluster, null, TimeSpan.FromSeconds(30))).Dispose());
        await Assert.ThrowsAnyAsync<Exception>(async () => (await Client(cluster, foreignAuthority, TimeSpan.FromSeconds(30))).Dispose());

        // The cluster's own: the client API answers.
        using var member = await Client(cluster, cluster.Certificates);
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

    private static async Task<SslStream> Handshake(string endpoint, ClusterCertificates certificates)
    {
        int colon = endpoint.LastIndexOf(':');
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, int.Parse(endpoint[(colon + 1)..]));
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
        using var foreignAuthority = ClusterCertificates.Create("someone else's");

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

        // A member's frame arrives whole.
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

    [Fact]
    public void Certificates_survive_their_files_readable_by_their_owner_only()
    {
        string dir = Path.Combine(Repo.NewTempDir(), "tls");
        using var made = ClusterCertificates.Create("test");
        made.Save(dir);
        foreach (string file in new[] { ClusterCertificates.AuthorityFile, ClusterCertificates.CertificateFile, ClusterCertificates.KeyFile })
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, file)));
        using var loaded = ClusterCertificates.Load(dir);
        Assert.True(loaded.IsMember(made.Member));
        Assert.True(made.IsMember(loaded.Member));
        using var other = ClusterCertificates.Create("other");
        Assert.False(loaded.IsMember(other.Member));
        Assert.False(other.IsMember(loaded.Member));
        // The authority itself is no member (it may not authenticate a connection).
        Assert.False(loaded.IsMember(loaded.Authority));

        // A member certificate of one authority beside another's ca.crt: refused, naming the file.
        File.Copy(Path.Combine(dir, ClusterCertificates.AuthorityFile), Path.Combine(dir, "mine.crt"));
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
