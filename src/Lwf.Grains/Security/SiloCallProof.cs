using System.Reflection;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Lwf.Grains.Security;

/// <summary>
/// Proof that a grain call was sent by a silo of the cluster, carried in the call's request context. A client names
/// itself in every message it sends (Orleans' gateway does not check the sender), so who a call says it is from proves
/// nothing; this proof does: an HMAC-SHA256 of the target grain, the method and the time, keyed by a secret derived from
/// the silos' private key, which clients do not hold (a client's certificate has a key of its own). Every silo of a
/// cluster therefore holds the same silo key (one folder, one Secret). A proof is good for one target and method, within
/// <see cref="Window"/> of the receiving silo's clock.
/// </summary>
public sealed class SiloCallProof
{
    /// <summary>The request-context key the proof travels under.</summary>
    public const string ContextKey = "lwf.silo-proof";

    /// <summary>How far the sender's clock may be from the receiver's.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(10);

    private static readonly byte[] Purpose = Encoding.UTF8.GetBytes("lwf-orleans silo call proof v1\n");

    private readonly byte[] _key;

    private SiloCallProof(byte[] key) => _key = key;

    /// <summary>The proof of the silos holding <paramref name="silo"/>'s private key.</summary>
    public static SiloCallProof From(ClusterCertificates silo)
    {
        if (silo.Role != ClusterRole.Silo) throw new ArgumentException("only a silo's certificate keys the proof", nameof(silo));
        using var ecdsa = silo.Member.GetECDsaPrivateKey();
        using var rsa = ecdsa is null ? silo.Member.GetRSAPrivateKey() : null;
        byte[] secret = ecdsa?.ExportPkcs8PrivateKey() ?? rsa?.ExportPkcs8PrivateKey()
            ?? throw new InvalidOperationException("the silo's certificate has no ECDSA or RSA private key");
        try
        {
            return new SiloCallProof(SHA256.HashData([.. Purpose, .. secret]));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <summary>The proof for a call of <paramref name="method"/> on <paramref name="target"/> at <paramref name="now"/>: "SECONDS.BASE64".</summary>
    public string Make(GrainId target, MethodInfo method, DateTimeOffset now)
    {
        long seconds = now.ToUnixTimeSeconds();
        return $"{seconds}.{Convert.ToBase64String(Mac(target, method, seconds))}";
    }

    /// <summary>Whether <paramref name="proof"/> was made by a holder of the key for this target and method, within <see cref="Window"/>.</summary>
    public bool Verify(string? proof, GrainId target, MethodInfo method, DateTimeOffset now)
    {
        if (proof is null || proof.Length > 128) return false;
        int dot = proof.IndexOf('.');
        if (dot <= 0 || !long.TryParse(proof.AsSpan(0, dot), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long seconds)) return false;
        if (Math.Abs(now.ToUnixTimeSeconds() - seconds) > Window.TotalSeconds) return false;
        Span<byte> mac = stackalloc byte[32];
        if (!Convert.TryFromBase64String(proof[(dot + 1)..], mac, out int written) || written != 32) return false;
        return CryptographicOperations.FixedTimeEquals(mac, Mac(target, method, seconds));
    }

    private byte[] Mac(GrainId target, MethodInfo method, long seconds) =>
        HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes($"{seconds}\n{target}\n{method.DeclaringType?.FullName}.{method.Name}"));
}
