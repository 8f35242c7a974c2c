using System.Collections.Concurrent;
using System.Reflection;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Lwf.Grains.Security;

/// <summary>
/// Proof of which client sent a grain call, carried in the call's request context: the client's certificate and its
/// signature (with the certificate's private key) over the target grain, the method and the time. Orleans tells a grain
/// nothing about the connection a call came in on, and a client writes its own sender, so this is what ties a call to
/// the certificate its TLS handshake showed. One signature per client call (ECDSA P-256: tens of microseconds); the
/// certificate's chain is checked once per certificate and remembered. Good for one target and method, within
/// <see cref="SiloCallProof.Window"/> of the receiving silo's clock; the connection's TLS keeps it from being seen.
/// </summary>
public sealed class ClientCallProof(ClusterCertificates silo)
{
    /// <summary>The request-context key the proof travels under.</summary>
    public const string ContextKey = "lwf.client-proof";

    /// <summary>A proof longer than this is not read (a certificate is under 1 KiB).</summary>
    private const int MaxLength = 8192;

    private const int MaxRemembered = 4096;

    private static readonly byte[] Purpose = Encoding.UTF8.GetBytes("lwf-orleans client call proof v1\n");

    /// <summary>Certificates whose chain held, by their bytes' SHA-256: the identity and the public key to check signatures with.</summary>
    private readonly ConcurrentDictionary<string, (ClientIdentity Identity, X509Certificate2 Certificate)> _admitted = new();

    /// <summary>The proof for a call of <paramref name="method"/> on <paramref name="target"/> at <paramref name="now"/>: "SECONDS.CERTIFICATE.SIGNATURE".</summary>
    public static string Make(X509Certificate2 client, GrainId target, MethodInfo method, DateTimeOffset now)
    {
        long seconds = now.ToUnixTimeSeconds();
        byte[] data = Signed(target, method, seconds);
        byte[] signature;
        using (var ecdsa = client.GetECDsaPrivateKey())
        using (var rsa = ecdsa is null ? client.GetRSAPrivateKey() : null)
            signature = ecdsa?.SignData(data, HashAlgorithmName.SHA256)
                ?? rsa?.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                ?? throw new InvalidOperationException("the client's certificate has no ECDSA or RSA private key");
        return $"{seconds}.{Convert.ToBase64String(client.RawData)}.{Convert.ToBase64String(signature)}";
    }

    /// <summary>The client that made <paramref name="proof"/> for this target and method within the window, or null.</summary>
    public ClientIdentity? Verify(string? proof, GrainId target, MethodInfo method, DateTimeOffset now)
    {
        if (proof is null || proof.Length > MaxLength) return null;
        string[] parts = proof.Split('.');
        if (parts.Length != 3 || !long.TryParse(parts[0], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long seconds))
            return null;
        if (Math.Abs(now.ToUnixTimeSeconds() - seconds) > SiloCallProof.Window.TotalSeconds) return null;
        byte[] raw, signature;
        try
        {
            raw = Convert.FromBase64String(parts[1]);
            signature = Convert.FromBase64String(parts[2]);
        }
        catch (FormatException)
        {
            return null;
        }
        if (Admitted(raw) is not { } admitted) return null;
        byte[] data = Signed(target, method, seconds);
        using var ecdsa = admitted.Certificate.GetECDsaPublicKey();
        using var rsa = ecdsa is null ? admitted.Certificate.GetRSAPublicKey() : null;
        bool valid = ecdsa?.VerifyData(data, signature, HashAlgorithmName.SHA256)
            ?? rsa?.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            ?? false;
        return valid ? admitted.Identity : null;
    }

    /// <summary>The certificate's identity when the cluster's authority issued it to a client with a subject (and it has not expired).</summary>
    private (ClientIdentity Identity, X509Certificate2 Certificate)? Admitted(byte[] raw)
    {
        string id = Convert.ToHexString(SHA256.HashData(raw));
        if (_admitted.TryGetValue(id, out var known))
            return known.Certificate.NotAfter > DateTime.Now ? known : null;
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(raw);
        }
        catch (CryptographicException)
        {
            return null;
        }
        // A silo's certificate proves no client: silos prove their calls with SiloCallProof.
        if (certificate.GetNameInfo(X509NameType.SimpleName, false) != ClusterCertificates.ClientName
            || !silo.Admits(certificate, ClusterRole.Client) || ClientIdentity.Of(certificate) is not { } identity)
        {
            certificate.Dispose();
            return null;
        }
        if (_admitted.Count >= MaxRemembered) _admitted.Clear();
        _admitted[id] = (identity, certificate);
        return (identity, certificate);
    }

    private static byte[] Signed(GrainId target, MethodInfo method, long seconds) =>
        [.. Purpose, .. Encoding.UTF8.GetBytes($"{seconds}\n{target}\n{method.DeclaringType?.FullName}.{method.Name}")];
}
