using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace Lwf.Grains.Security;

/// <summary>
/// Who a client is, as its certificate says: a subject (a tenant's name), and whether it is an operator. Both travel as
/// one DNS name among the certificate's subject alternative names, <c>NAME.tenant.lwf-orleans</c> or
/// <c>NAME.operator.lwf-orleans</c>, because that is the one field every issuer can set (Helm's genSignedCert,
/// cert-manager, openssl) and the authority vouches for it as for the rest. A client certificate with no such name, or
/// with more than one, has no subject and is refused at the handshake.
/// </summary>
public sealed partial record ClientIdentity(string Subject, bool IsOperator)
{
    /// <summary>The domains of the two kinds of subject name.</summary>
    public const string TenantDomain = "tenant.lwf-orleans", OperatorDomain = "operator.lwf-orleans";

    /// <summary>The subject of the client certificate `lwf cluster certs` and `lwf cluster up` make for whoever runs the cluster.</summary>
    public const string Admin = "admin";

    /// <summary>
    /// A console that holds the silos' certificate (in a silo's pod, say): inside the cluster already, so an operator.
    /// </summary>
    public static readonly ClientIdentity Silos = new("silos", IsOperator: true);

    private static readonly AsyncLocal<ClientIdentity?> CurrentCaller = new();

    /// <summary>
    /// The client behind the grain call being served, as <see cref="ClientCallFilter"/> verified it; null for the
    /// cluster's own calls and on a cluster without TLS (there, nobody is told apart).
    /// </summary>
    public static ClientIdentity? Caller
    {
        get => CurrentCaller.Value;
        internal set => CurrentCaller.Value = value;
    }

    /// <summary>
    /// Whether this client may see and change a job of <paramref name="owner"/> (its <see cref="DnsName"/>, so that a
    /// tenant and an operator of one name are two people; null: a job from before owners, or the cluster's own).
    /// </summary>
    public bool MayReach(string? owner) => IsOperator || owner is null || owner == DnsName;

    /// <summary>An owner as people read it: "alice", "admin (operator)"; "-" for none.</summary>
    public static string Describe(string? owner) => owner is null ? "-"
        : Parse(owner) is { } identity ? identity.IsOperator ? $"{identity.Subject} (operator)" : identity.Subject : owner;

    /// <summary>The DNS name that carries this identity in a certificate.</summary>
    public string DnsName => $"{Subject}.{(IsOperator ? OperatorDomain : TenantDomain)}";

    /// <summary>A subject: one DNS label (lower-case letters, digits, inner hyphens; at most 63), so that it is safe in logs and in names.</summary>
    public static bool IsValidSubject(string subject) => SubjectPattern().IsMatch(subject);

    /// <summary>The identity a certificate carries, or null when it carries none or several.</summary>
    public static ClientIdentity? Of(X509Certificate2 certificate)
    {
        var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames());
        ClientIdentity? found = null;
        foreach (string name in names)
        {
            ClientIdentity? identity = Parse(name);
            if (identity is null) continue;
            if (found is not null) return null; // two subjects: none
            found = identity;
        }
        return found;
    }

    /// <summary>The identity a subject DNS name carries, or null when it is none.</summary>
    public static ClientIdentity? Parse(string dnsName)
    {
        foreach (var (domain, isOperator) in new[] { (TenantDomain, false), (OperatorDomain, true) })
        {
            if (!dnsName.EndsWith("." + domain, StringComparison.Ordinal)) continue;
            string subject = dnsName[..^(domain.Length + 1)];
            return IsValidSubject(subject) ? new ClientIdentity(subject, isOperator) : null;
        }
        return null;
    }

    [GeneratedRegex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex SubjectPattern();
}
