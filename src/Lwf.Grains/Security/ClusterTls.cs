using Orleans.Connections.Security;

namespace Lwf.Grains.Security;

/// <summary>
/// Mutual TLS on Orleans' own connections (silo to silo, client to gateway) with the cluster's certificates: each end
/// presents its member certificate and accepts only a peer whose certificate chains to the cluster's authority.
/// </summary>
public static class ClusterTls
{
    /// <summary>The `Cluster:Tls` modes.</summary>
    public const string Mutual = "mutual", Off = "off";

    /// <summary>How long a connection may take over its handshake before it is dropped.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    public static ISiloBuilder UseClusterTls(this ISiloBuilder silo, ClusterCertificates certificates) =>
        silo.UseTls(certificates.Member, options => Configure(options, certificates));

    public static IClientBuilder UseClusterTls(this IClientBuilder client, ClusterCertificates certificates) =>
        client.UseTls(certificates.Member, options => Configure(options, certificates));

    private static void Configure(TlsOptions options, ClusterCertificates certificates)
    {
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        // Clients at the gateway too: by default Orleans would let a client in without a certificate.
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        // The chain is checked against the cluster's authority alone; the host name a peer was dialled by is not (silos
        // are dialled by address, and every member holds the same name).
        options.RemoteCertificateValidation = (certificate, _, _) => certificates.IsMember(certificate);
        options.HandshakeTimeout = HandshakeTimeout;
        options.OnAuthenticateAsClient = (_, ssl) => ssl.TargetHost = ClusterCertificates.MemberName;
    }
}
