using Lwf.Core.IO;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Lwf.Core;

namespace Lwf.Grains.Security;

/// <summary>
/// A cluster's certificate authority with its private key: what issues the silos' certificate and each client's (one per
/// tenant, <see cref="ClientIdentity"/>). On disk, ca.crt and ca.key (PEM, owner-only) in a folder of their own, which
/// belongs with whoever admits people to the cluster, never on a silo: a silo needs ca.crt only (in its TLS folder).
/// </summary>
public sealed class ClusterAuthority : IDisposable
{
    public const string KeyFile = "ca.key";

    private readonly X509Certificate2 _certificate;

    private ClusterAuthority(X509Certificate2 certificate) => _certificate = certificate;

    /// <summary>The authority's certificate (public part).</summary>
    public X509Certificate2 Certificate => _certificate;

    /// <summary>A new authority (ECDSA P-256), valid for <paramref name="validity"/> (a year by default) and a day.</summary>
    public static ClusterAuthority Create(string clusterName, TimeSpan? validity = null)
    {
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-5);
        var notAfter = notBefore + (validity ?? TimeSpan.FromDays(365));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=lwf-orleans CA {clusterName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return new ClusterAuthority(request.CreateSelfSigned(notBefore, notAfter.AddDays(1)));
    }

    /// <summary>
    /// A certificate for <paramref name="role"/>, valid for <paramref name="validity"/> and at most until the authority's
    /// own end (less a day): a silo's (server and client authentication, the silos' shared name) or a client's (client
    /// authentication, <paramref name="client"/>'s subject name).
    /// </summary>
    public ClusterCertificates Issue(ClusterRole role, ClientIdentity? client = null, TimeSpan? validity = null)
    {
        if (role == ClusterRole.Client != client is not null) throw new ArgumentException("a client's certificate, and only one, names a client", nameof(client));
        if (client is not null && !ClientIdentity.IsValidSubject(client.Subject))
            throw new LwfInputException($"'{client.Subject}' is not a client name: one DNS label (lower-case letters, digits, inner hyphens; at most 63)");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        string name = ClusterCertificates.NameOf(role);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            role == ClusterRole.Silo ? [ClusterCertificates.ServerAuth, ClusterCertificates.ClientAuth] : [ClusterCertificates.ClientAuth], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(name);
        if (client is not null) names.AddDnsName(client.DnsName);
        if (role == ClusterRole.Silo)
        {
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            names.AddIpAddress(IPAddress.IPv6Loopback);
        }
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_certificate, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-5);
        var notAfter = new DateTimeOffset(_certificate.NotAfter.ToUniversalTime()).AddDays(-1);
        if (validity is { } wanted && notBefore + wanted < notAfter) notAfter = notBefore + wanted;
        if (notAfter <= notBefore) throw new LwfInputException($"the cluster's authority ({_certificate.Subject}) has expired or ends within a day: make a new one");
        using var issued = request.Create(_certificate, notBefore, notAfter, serial);
        return ClusterCertificates.Issued(X509CertificateLoader.LoadCertificate(_certificate.RawData), issued.CopyWithPrivateKey(key), role);
    }

    /// <summary>Writes ca.crt and ca.key into <paramref name="directory"/>, owner-only.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var key = _certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the authority has no ECDSA key");
        AtomicFile.WriteText(Path.Combine(directory, KeyFile), key.ExportPkcs8PrivateKeyPem() + "\n", OwnerOnly);
        AtomicFile.WriteText(Path.Combine(directory, ClusterCertificates.AuthorityFile), _certificate.ExportCertificatePem() + "\n", OwnerOnly);
    }

    /// <summary>Whether <paramref name="directory"/> holds an authority's two files.</summary>
    public static bool In(string directory) =>
        File.Exists(Path.Combine(directory, ClusterCertificates.AuthorityFile)) && File.Exists(Path.Combine(directory, KeyFile));

    /// <summary>Reads ca.crt and ca.key; a missing or unreadable one, or a key that is not the certificate's, is one error naming the folder.</summary>
    public static ClusterAuthority Load(string directory)
    {
        string certificate = Path.Combine(directory, ClusterCertificates.AuthorityFile), key = Path.Combine(directory, KeyFile);
        foreach (string file in new[] { certificate, key })
            if (!File.Exists(file)) throw new LwfInputException($"{file}: not found (an authority's folder holds {ClusterCertificates.AuthorityFile} and {KeyFile}; `lwf cluster certs` writes it)");
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certificate, key);
            if (!pem.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority))
                throw new LwfInputException($"{certificate}: not a certificate authority");
            return new ClusterAuthority(X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null));
        }
        catch (CryptographicException e)
        {
            throw new LwfInputException($"{directory}: the authority's files could not be read ({e.Message.TrimEnd('.')}); they must be PEM: {ClusterCertificates.AuthorityFile}, {KeyFile}");
        }
    }

    public void Dispose() => _certificate.Dispose();
}
