using Lwf.Core;
using Orleans.Configuration;
using Orleans.Connections.Security;

namespace Lwf.Grains.Security;

/// <summary>
/// Mutual TLS on Orleans' own connections with the cluster's certificates. Each end presents its certificate and accepts
/// only a peer whose certificate chains to the cluster's authority and fits the door: the silo port (silo to silo, both
/// ways) takes silos only, the gateway takes silos and clients, and a client accepts only a silo at the other end. So a
/// client's certificate gets a program to the gateway (and the client API) but never into the cluster as a silo.
/// </summary>
public static class ClusterTls
{
    /// <summary>The `Cluster:Tls` modes.</summary>
    public const string Mutual = "mutual", Off = "off";

    /// <summary>How long a connection may take over its handshake before it is dropped.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    public static ISiloBuilder UseClusterTls(this ISiloBuilder silo, ClusterCertificates certificates)
    {
        if (certificates.Role != ClusterRole.Silo)
            throw new LwfInputException($"a silo needs a silo's certificate (CN={ClusterCertificates.SiloName}); this one is a {certificates.Role.ToString().ToLowerInvariant()}'s");
        DecodeKeyUsages(certificates.Member); // now, on this thread: the listeners build their middleware on their own
        // Orleans' own UseTls puts one set of options on all three kinds of connection; here each door gets its own.
        return silo.Configure<SiloConnectionOptions>(connections =>
        {
            connections.ConfigureSiloInboundConnection(c => c.UseServerTls(Options(certificates, ClusterRole.Silo)));
            connections.ConfigureSiloOutboundConnection(c => c.UseClientTls(Options(certificates, ClusterRole.Silo)));
            connections.ConfigureGatewayInboundConnection(c => c.UseServerTls(Options(certificates, ClusterRole.Client)));
        });
    }

    /// <summary>TLS to the gateway with the client's certificate, and every call signed with its key (<see cref="ClientCallSigner"/>).</summary>
    public static IClientBuilder UseClusterTls(this IClientBuilder client, ClusterCertificates certificates)
    {
        DecodeKeyUsages(certificates.Member);
        return client.UseTls(certificates.Member, options => Configure(options, certificates, ClusterRole.Silo))
            .AddOutgoingGrainCallFilter(new ClientCallSigner(certificates.Member, TimeProvider.System));
    }

    private static TlsOptions Options(ClusterCertificates certificates, ClusterRole peer)
    {
        var options = new TlsOptions { LocalCertificate = certificates.Member };
        Configure(options, certificates, peer);
        return options;
    }

    /// <summary>
    /// Decodes the certificate's extended key usages once, here, before Orleans' listeners read them: each listener's
    /// TLS middleware checks them as it is built, on its own accept loop, and the framework decodes them lazily into a
    /// shared field without a lock, so two first reads at once could see a half-filled list and refuse the silo's own
    /// certificate for server authentication (seen once in CI, the silo port and the gateway starting together).
    /// </summary>
    private static void DecodeKeyUsages(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
    {
        foreach (var extension in certificate.Extensions.OfType<System.Security.Cryptography.X509Certificates.X509EnhancedKeyUsageExtension>())
            _ = extension.EnhancedKeyUsages.Count;
    }

    /// <param name="peer">The role the other end must hold (<see cref="ClusterRole.Client"/>: a client or a silo).</param>
    private static void Configure(TlsOptions options, ClusterCertificates certificates, ClusterRole peer)
    {
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        // This end offers its own certificate when it dials out (a client to a gateway, a silo to a silo).
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        // The chain and the role are checked against the cluster's authority alone; the host name a peer was dialled by
        // is not (silos are dialled by address, and every silo holds the same name).
        options.RemoteCertificateValidation = (certificate, _, _) => certificates.Admits(certificate, peer);
        options.HandshakeTimeout = HandshakeTimeout;
        options.OnAuthenticateAsClient = (_, ssl) => ssl.TargetHost = ClusterCertificates.SiloName;
    }
}
