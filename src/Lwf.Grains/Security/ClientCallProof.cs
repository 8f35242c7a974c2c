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

    /// <summary>A certificate whose chain held: who it is, and its public key (imported once) to check signatures with.</summary>
    private sealed record Admission(ClientIdentity Identity, DateTime NotAfter, ECDsa? Ecdsa, RSA? Rsa);

    /// <summary>Certificates whose chain held, by their bytes' SHA-256; and those whose chain did not (each built once).</summary>
    private readonly ConcurrentDictionary<string, Admission> _admitted = new();
    private readonly ConcurrentDictionary<string, byte> _refused = new();

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
        if (Admitted(raw, now) is not { } admitted) return null;
        byte[] data = Signed(target, method, seconds);
        bool valid;
        lock (admitted) // one key object per certificate, and crypto objects are not documented as thread-safe
            valid = admitted.Ecdsa?.VerifyData(data, signature, HashAlgorithmName.SHA256)
                ?? admitted.Rsa?.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                ?? false;
        return valid ? admitted.Identity : null;
    }

    /// <summary>
    /// The certificate's admission when the cluster's authority issued it to a client with a subject, or to the silos (a
    /// console holding the silos' certificate is inside the cluster already: <see cref="ClientIdentity.Silos"/>), and it
    /// has not expired.
    /// </summary>
    private Admission? Admitted(byte[] raw, DateTimeOffset now)
    {
        string id = Convert.ToHexString(SHA256.HashData(raw));
        if (_admitted.TryGetValue(id, out var known)) return known.NotAfter > now.UtcDateTime ? known : null;
        if (_refused.ContainsKey(id)) return null;
        using var certificate = Load(raw);
        ClientIdentity? identity = certificate is null ? null
            : certificate.GetNameInfo(X509NameType.SimpleName, false) == ClusterCertificates.SiloName
                ? silo.Admits(certificate, ClusterRole.Silo) ? ClientIdentity.Silos : null
                : silo.Admits(certificate, ClusterRole.Client) ? ClientIdentity.Of(certificate) : null;
        if (certificate is null || identity is null)
        {
            if (_refused.Count >= MaxRemembered) _refused.Clear();
            _refused[id] = 0;
            return null;
        }
        if (_admitted.Count >= MaxRemembered) Forget();
        var ecdsa = certificate.GetECDsaPublicKey();
        var admission = new Admission(identity, certificate.NotAfter.ToUniversalTime(), ecdsa, ecdsa is null ? certificate.GetRSAPublicKey() : null);
        return _admitted.GetOrAdd(id, admission);
    }

    private static X509Certificate2? Load(byte[] raw)
    {
        try
        {
            return X509CertificateLoader.LoadCertificate(raw);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    private void Forget()
    {
        foreach (var key in _admitted.Keys.ToList())
            if (_admitted.TryRemove(key, out var gone))
            {
                gone.Ecdsa?.Dispose();
                gone.Rsa?.Dispose();
            }
    }

    private static byte[] Signed(GrainId target, MethodInfo method, long seconds) =>
        [.. Purpose, .. Encoding.UTF8.GetBytes($"{seconds}\n{target}\n{method.DeclaringType?.FullName}.{method.Name}")];
}
