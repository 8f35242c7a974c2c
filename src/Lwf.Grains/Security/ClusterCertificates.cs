using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Lwf.Core;

namespace Lwf.Grains.Security;

/// <summary>
/// One process's mutual-TLS identity in the cluster: the cluster's certificate authority (public part) and a certificate
/// it issued to this process, for a silo or for a client (<see cref="ClusterRole"/>, carried in the subject's common name,
/// which only the authority can vouch for). A connection is accepted only from a peer whose certificate chains to this
/// authority and whose role fits the door: silos at the silo port and the data plane, silos and clients at the gateway.
/// A program that knows the ports but holds no certificate cannot even complete a handshake. On disk it is the layout of
/// a Kubernetes TLS Secret (and of cert-manager's): ca.crt, tls.crt, tls.key, PEM; one folder per role.
/// </summary>
public sealed class ClusterCertificates : IDisposable
{
    public const string AuthorityFile = "ca.crt", CertificateFile = "tls.crt", KeyFile = "tls.key";

    /// <summary>The three files of a role's folder.</summary>
    public static readonly IReadOnlyList<string> Files = [AuthorityFile, CertificateFile, KeyFile];

    /// <summary>The subject common names (and DNS names) of the two roles' certificates.</summary>
    public const string SiloName = "lwf-orleans-silo", ClientName = "lwf-orleans-client";

    /// <summary>
    /// The folders `lwf cluster certs` and `lwf cluster up` write into: the silos' files, the operator's (admin) client
    /// files, each further client's in clients/NAME, and the authority (with its key) in authority.
    /// </summary>
    public const string SiloFolder = "silo", ClientFolder = "client", ClientsFolder = "clients", AuthorityFolder = "authority";

    internal static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1"), ClientAuth = new("1.3.6.1.5.5.7.3.2");

    private ClusterCertificates(X509Certificate2 authority, X509Certificate2 member, ClusterRole role)
    {
        Authority = authority;
        Member = member;
        Role = role;
    }

    /// <summary>The authority's certificate (public part only): the one root a peer's chain may end at.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>This process's certificate, with its private key.</summary>
    public X509Certificate2 Member { get; }

    /// <summary>What <see cref="Member"/> was issued for.</summary>
    public ClusterRole Role { get; }

    public static string NameOf(ClusterRole role) => role == ClusterRole.Silo ? SiloName : ClientName;

    /// <summary>
    /// A new authority (ECDSA P-256) and the two certificates it issues, valid for <paramref name="validity"/>: a silo's
    /// (server and client authentication) and a client's for the cluster's operator (<see cref="ClientIdentity.Admin"/>;
    /// client authentication only). The authority's key is not kept: <see cref="ClusterAuthority"/> keeps it.
    /// </summary>
    public static (ClusterCertificates Silo, ClusterCertificates Client) Create(string clusterName, TimeSpan? validity = null)
    {
        using var authority = ClusterAuthority.Create(clusterName, validity);
        return (authority.Issue(ClusterRole.Silo), authority.Issue(ClusterRole.Client, new ClientIdentity(ClientIdentity.Admin, IsOperator: true)));
    }

    /// <summary>A certificate with its key as <paramref name="role"/>'s, unchecked (<see cref="ClusterAuthority.Issue"/>; tests of refusals).</summary>
    public static ClusterCertificates Issued(X509Certificate2 authority, X509Certificate2 member, ClusterRole role) => new(authority, member, role);

    /// <summary>Who this client is (null for a silo's certificate).</summary>
    public ClientIdentity? Identity => Role == ClusterRole.Client ? ClientIdentity.Of(Member) : null;

    /// <summary>Writes ca.crt, tls.crt and tls.key into <paramref name="directory"/> (owner-only: the key is a door key of the cluster).</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Lwf.Core.IO.AtomicFile.WriteText(Path.Combine(directory, AuthorityFile), Authority.ExportCertificatePem() + "\n", OwnerOnly);
        Lwf.Core.IO.AtomicFile.WriteText(Path.Combine(directory, CertificateFile), Member.ExportCertificatePem() + "\n", OwnerOnly);
        using var key = Member.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the certificate has no ECDSA key");
        Lwf.Core.IO.AtomicFile.WriteText(Path.Combine(directory, KeyFile), key.ExportPkcs8PrivateKeyPem() + "\n", OwnerOnly);
    }

    /// <summary>
    /// Reads ca.crt, tls.crt and tls.key (PEM, RSA or ECDSA); a missing or unreadable one, a certificate the authority
    /// did not issue or one issued to neither role is a clear error naming the file. With <paramref name="role"/>, the
    /// certificate must be that role's.
    /// </summary>
    public static ClusterCertificates Load(string directory, ClusterRole? role = null)
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
            string name = member.GetNameInfo(X509NameType.SimpleName, false);
            ClusterRole? issuedTo = name switch { SiloName => ClusterRole.Silo, ClientName => ClusterRole.Client, _ => null };
            if (issuedTo is null)
                throw new LwfInputException($"{certificatePath}: issued to '{name}', not to a silo (CN={SiloName}) or a client (CN={ClientName}); " +
                    "`lwf cluster certs --out DIR` makes both");
            if (role is { } wanted && issuedTo != wanted)
                throw new LwfInputException($"{certificatePath}: a {issuedTo.ToString()!.ToLowerInvariant()}'s certificate (CN={name}), where a {wanted.ToString().ToLowerInvariant()}'s " +
                    $"is needed (CN={NameOf(wanted)}; `lwf cluster certs` writes them to DIR/{SiloFolder} and DIR/{ClientFolder})");
            if (issuedTo == ClusterRole.Client && ClientIdentity.Of(member) is null)
                throw new LwfInputException($"{certificatePath}: a client's certificate without a subject (one DNS name NAME.{ClientIdentity.TenantDomain} " +
                    $"or NAME.{ClientIdentity.OperatorDomain}), which the cluster refuses; `lwf cluster certs --out DIR --client NAME` makes one");
            var certificates = new ClusterCertificates(authority, member, issuedTo.Value);
            if (!certificates.Admits(member, issuedTo.Value))
                throw new LwfInputException($"{certificatePath}: not issued by the authority in {authorityPath} (or expired, or not for the authentication its role needs)");
            return certificates;
        }
        catch (CryptographicException e)
        {
            throw new LwfInputException($"{directory}: the TLS files could not be read ({e.Message.TrimEnd('.')}); they must be PEM: {AuthorityFile}, {CertificateFile}, {KeyFile}");
        }
    }

    /// <summary>
    /// Whether <paramref name="certificate"/> may come in at a door for <paramref name="role"/>: an end certificate that
    /// chains to this cluster's authority alone (the machine's trust store plays no part), is in its validity period and
    /// was issued to a silo (any door) or, where <paramref name="role"/> is <see cref="ClusterRole.Client"/>, to a client.
    /// </summary>
    public bool Admits(X509Certificate2 certificate, ClusterRole role)
    {
        // An authority (this one or one it signed) authenticates no connection.
        if (certificate.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority)) return false;
        string name = certificate.GetNameInfo(X509NameType.SimpleName, false);
        bool silo = name == SiloName;
        if (!silo && !(role == ClusterRole.Client && name == ClientName)) return false;
        // A client says who it is (ClientIdentity): one without a subject is not let in, so every call is someone's.
        if (!silo && ClientIdentity.Of(certificate) is null) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        // A stranger's certificate may name an issuer URL: the handshake must not make the silo fetch it.
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (silo) chain.ChainPolicy.ApplicationPolicy.Add(ServerAuth);
        chain.ChainPolicy.ApplicationPolicy.Add(ClientAuth);
        if (!chain.Build(certificate)) return false;
        var root = chain.ChainElements[^1].Certificate;
        return root.RawData.AsSpan().SequenceEqual(Authority.RawData);
    }

    /// <summary>The data plane's server side: this silo's certificate, and a silo's certificate required of the peer.</summary>
    public SslServerAuthenticationOptions ServerOptions() => new()
    {
        ServerCertificate = Member,
        ClientCertificateRequired = true,
        EnabledSslProtocols = SslProtocols.Tls13 | SslProtocols.Tls12,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && Admits(AsCertificate2(certificate), ClusterRole.Silo),
    };

    /// <summary>The data plane's client side: this silo's certificate offered, the server's checked to be a silo's.</summary>
    public SslClientAuthenticationOptions ClientOptions() => new()
    {
        TargetHost = SiloName,
        ClientCertificates = [Member],
        EnabledSslProtocols = SslProtocols.Tls13 | SslProtocols.Tls12,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && Admits(AsCertificate2(certificate), ClusterRole.Silo),
    };

    private static X509Certificate2 AsCertificate2(X509Certificate certificate) =>
        certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());

    public void Dispose()
    {
        Authority.Dispose();
        Member.Dispose();
    }
}
