using Lwf.Core.IO;
using System.Text.Json;
using Lwf.Core;

namespace Lwf.Cli;

/// <summary>
/// What `lwf cluster up` started, in $LWF_HOME/cluster.json (default ~/.lwf): the client finds the cluster
/// through it with no flags, and `lwf cluster down` stops exactly these processes.
/// </summary>
public sealed record ClusterState(string ClusterId, string CheckpointDirectory, string Device, List<SiloProcess> Silos)
{
    /// <summary>localhost (the first silo holds the membership table) or redis (any silo may die).</summary>
    public string Clustering { get; init; } = Lwf.Silo.ClusteringMode.File;

    public string? RedisConnectionString { get; init; }

    /// <summary>The silos' data root (absolute): job files and the paths they name must lie under it.</summary>
    public string DataRoot { get; init; } = "";

    public static string Home => Environment.GetEnvironmentVariable("LWF_HOME") is { Length: > 0 } home
        ? home : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".lwf");

    public static string FilePath => Path.Combine(Home, "cluster.json");

    /// <summary>The cluster's TLS files, made by `lwf cluster up`: silo/ (ca.crt, tls.crt, tls.key) for the silos it starts, client/ for every client.</summary>
    public static string TlsDirectory => Path.Combine(Home, "tls");

    public static string SiloTlsDirectory => Path.Combine(TlsDirectory, Lwf.Grains.Security.ClusterCertificates.SiloFolder);

    public static string ClientTlsDirectory => Path.Combine(TlsDirectory, Lwf.Grains.Security.ClusterCertificates.ClientFolder);

    /// <summary>file clustering: where the local silos keep their membership table, one file per cluster id.</summary>
    public static string MembershipDirectory => Path.Combine(Home, "membership");

    public static ClusterState? Load()
    {
        if (!File.Exists(FilePath)) return null;
        try
        {
            return JsonSerializer.Deserialize<ClusterState>(File.ReadAllText(FilePath));
        }
        catch (JsonException e)
        {
            throw new LwfInputException($"{FilePath}: not a cluster state file ({e.Message}); remove it and run `lwf cluster up` again");
        }
    }

    /// <summary>
    /// The silos' /metrics endpoints in Prometheus' file_sd format, for cluster/prometheus/prometheus.yml: the
    /// silos' HTTP ports are picked free at `lwf cluster up`, so a fixed scrape list could not name them.
    /// </summary>
    public static string PrometheusTargetsPath => Path.Combine(Home, "prometheus-targets.json");

    public void Save()
    {
        // Owner-only: it may hold a Redis connection string with its password.
        AtomicFile.WriteText(FilePath, JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        WritePrometheusTargets([new { targets = Silos.Select(s => $"127.0.0.1:{s.HttpPort}").ToArray(), labels = new { cluster = ClusterId } }]);
    }

    public static void Delete()
    {
        if (File.Exists(FilePath)) File.Delete(FilePath);
        WritePrometheusTargets([]);
    }

    private static void WritePrometheusTargets(object[] groups) =>
        AtomicFile.WriteText(PrometheusTargetsPath, JsonSerializer.Serialize(groups, new JsonSerializerOptions { WriteIndented = true }));
}
