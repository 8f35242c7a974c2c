using System.ComponentModel.DataAnnotations;

namespace Lwf.Silo;

/// <summary>How a silo finds its cluster (configuration section "Cluster"; environment Cluster__Clustering=redis, ...).</summary>
public sealed class LwfClusterOptions
{
    public const string Section = "Cluster";

    /// <summary>localhost (the default), file, redis or adonet: see <see cref="ClusteringMode"/>.</summary>
    [Required, RegularExpression("^(localhost|file|redis|adonet)$", ErrorMessage = "Cluster:Clustering must be localhost, file, redis or adonet")]
    public string Clustering { get; set; } = ClusteringMode.Localhost;

    /// <summary>file clustering: the folder holding the membership table, shared by every silo of the cluster.</summary>
    public string? MembershipDirectory { get; set; }

    [Required]
    public string ClusterId { get; set; } = "lwf";

    [Required]
    public string ServiceId { get; set; } = "lwf";

    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>localhost clustering: the silo port of the first silo, which the others join.</summary>
    [Range(1, 65535)]
    public int PrimarySiloPort { get; set; } = 11111;

    /// <summary>Address other silos reach this one at (default loopback for localhost clustering).</summary>
    public string? AdvertisedAddress { get; set; }

    public string? RedisConnectionString { get; set; }

    /// <summary>
    /// mutual (the default): silo to silo, client to gateway and the data plane are mutual TLS with the certificates in
    /// <see cref="TlsDirectory"/>; off: plain TCP, for a network nothing else can reach.
    /// </summary>
    [Required, RegularExpression("^(mutual|off)$", ErrorMessage = "Cluster:Tls must be mutual or off")]
    public string Tls { get; set; } = Lwf.Grains.Security.ClusterTls.Mutual;

    /// <summary>The folder holding ca.crt, tls.crt and tls.key (a Kubernetes TLS Secret's layout; `lwf cluster certs` makes one).</summary>
    public string? TlsDirectory { get; set; }

    public string? AdoNetConnectionString { get; set; }

    public string AdoNetInvariant { get; set; } = "Npgsql";

    /// <summary>Largest Orleans message; tensors travel in 16 MiB chunks, far below it.</summary>
    [Range(1024 * 1024, int.MaxValue)]
    public int MaxMessageBodyBytes { get; set; } = 100 * 1024 * 1024;
}
