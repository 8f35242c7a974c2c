using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Lwf.Core;

namespace Lwf.Grains.Security;

/// <summary>
/// The cluster's mutual-TLS identity: a certificate authority of its own and a member certificate it issued, which
/// every silo and every client of the cluster presents. A connection is accepted only from a peer whose certificate
/// chains to this authority (silo to silo, client to gateway, data plane), so a program that knows the ports but holds
/// no member certificate cannot even complete a handshake. On disk it is the layout of a Kubernetes TLS Secret (and of
/// cert-manager's): ca.crt, tls.crt, tls.key, PEM.
/// </summary>
public sealed class ClusterCertificates : IDisposable
{
    public const string AuthorityFile = "ca.crt", CertificateFile = "tls.crt", KeyFile = "tls.key";

    /// <summary>The name every member certificate carries (DNS SAN): peers check the chain, not the host they dialled.</summary>
    public const string MemberName = "lwf-orleans-member";

    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1"), ClientAuth = new("1.3.6.1.5.5.7.3.2");

    private ClusterCertificates(X509Certificate2 authority, X509Certificate2 member)
    {
        Authority = authority;
        Member = member;
    }

    /// <summary>The authority's certificate (public part only): the one root a peer's chain may end at.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>This process's certificate, with its private key.</summary>
    public X509Certificate2 Member { get; }

    /// <summary>A new authority (ECDSA P-256) and a member certificate for server and client authentication, valid for <paramref name="validity"/>.</summary>
    public static ClusterCertificates Create(string clusterName, TimeSpan? validity = null)
    {
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-5);
        var notAfter = notBefore + (validity ?? TimeSpan.FromDays(365));
        using var authorityKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var authorityRequest = new CertificateRequest($"CN=lwf-orleans CA {clusterName}", authorityKey, HashAlgorithmName.SHA256);
        authorityRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        authorityRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        authorityRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(authorityRequest.PublicKey, false));
        using var authority = authorityRequest.CreateSelfSigned(notBefore, notAfter.AddDays(1));

        using var memberKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var memberRequest = new CertificateRequest($"CN={MemberName}", memberKey, HashAlgorithmName.SHA256);
        memberRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        memberRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        memberRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuth, ClientAuth], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(MemberName);
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        memberRequest.CertificateExtensions.Add(names.Build());
        memberRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = memberRequest.Create(authority, notBefore, notAfter, serial);
        var member = issued.CopyWithPrivateKey(memberKey);
        return new ClusterCertificates(X509CertificateLoader.LoadCertificate(authority.RawData), member);
    }

    /// <summary>Writes ca.crt, tls.crt and tls.key into <paramref name="directory"/> (owner-only: the key is the cluster's door key).</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Lwf.Core.Checkpoints.AtomicFile.WriteText(Path.Combine(directory, AuthorityFile), Authority.ExportCertificatePem() + "\n", OwnerOnly);
        Lwf.Core.Checkpoints.AtomicFile.WriteText(Path.Combine(directory, CertificateFile), Member.ExportCertificatePem() + "\n", OwnerOnly);
        using var key = Member.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the member certificate has no ECDSA key");
        Lwf.Core.Checkpoints.AtomicFile.WriteText(Path.Combine(directory, KeyFile), key.ExportPkcs8PrivateKeyPem() + "\n", OwnerOnly);
    }

    /// <summary>Reads ca.crt, tls.crt and tls.key (PEM, RSA or ECDSA); a missing or unreadable one is a clear error naming it.</summary>
    public static ClusterCertificates Load(string directory)
    {
        string Need(string name)
        {
            string path = Path.Combine(directory, name);
            if (!File.Exists(path)) throw new LwfInputException($"{path}: not found (the cluster's TLS folder holds {AuthorityFile}, {CertificateFile} and {KeyFile})");
            return path;
        }
        string authorityPath = Need(AuthorityFile), certificatePath = Need(CertificateFile), keyPath = Need(KeyFile);
        try
        {
            var authority = X509CertificateLoader.LoadCertificateFromFile(authorityPath);
            var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            // An ephemeral PEM key cannot serve TLS on every platform; a PKCS#12 round trip gives it a usable key handle.
            var member = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            pem.Dispose();
            var certificates = new ClusterCertificates(authority, member);
            if (!certificates.IsMember(member))
                throw new LwfInputException($"{certificatePath}: not issued by the authority in {authorityPath} (or expired, or not for client and server authentication)");
            return certificates;
        }
        catch (CryptographicException e)
        {
            throw new LwfInputException($"{directory}: the TLS files could not be read ({e.Message.TrimEnd('.')}); they must be PEM: {AuthorityFile}, {CertificateFile}, {KeyFile}");
        }
    }

    /// <summary>
    /// Whether <paramref name="certificate"/> is an end certificate that chains to this cluster's authority alone (the
    /// machine's trust store plays no part), is in its validity period and may authenticate both ends of a connection.
    /// </summary>
    public bool IsMember(X509Certificate2 certificate)
    {
        // An authority (this one or one it signed) authenticates no connection, only members do.
        if (certificate.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority)) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(ServerAuth);
        chain.ChainPolicy.ApplicationPolicy.Add(ClientAuth);
        if (!chain.Build(certificate)) return false;
        var root = chain.ChainElements[^1].Certificate;
        return root.RawData.AsSpan().SequenceEqual(Authority.RawData);
    }

    /// <summary>The data plane's server side: the member certificate, and a client certificate required and checked.</summary>
    public SslServerAuthenticationOptions ServerOptions() => new()
    {
        ServerCertificate = Member,
        ClientCertificateRequired = true,
        EnabledSslProtocols = SslProtocols.Tls13 | SslProtocols.Tls12,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && IsMember(AsCertificate2(certificate)),
    };

    /// <summary>The data plane's client side: the member certificate offered, the server's checked against the authority.</summary>
    public SslClientAuthenticationOptions ClientOptions() => new()
    {
        TargetHost = MemberName,
        ClientCertificates = [Member],
        EnabledSslProtocols = SslProtocols.Tls13 | SslProtocols.Tls12,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && IsMember(AsCertificate2(certificate)),
    };

    private static X509Certificate2 AsCertificate2(X509Certificate certificate) =>
        certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());

    public void Dispose()
    {
        Authority.Dispose();
        Member.Dispose();
    }
}
