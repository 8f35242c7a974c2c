using System.Net;
using Lwf.Core.Models;
using Lwf.Grains;
using Lwf.Grains.Jobs;
using Lwf.Grains.Membership;
using Lwf.Grains.Replicas;
using Lwf.Grains.Security;
using Lwf.Grains.Transport;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Storage;
using OpenTelemetry.Metrics;

namespace Lwf.Silo;

/// <summary>
/// The silo host: ASP.NET Core + Orleans with the LWF grains, configured from appsettings.json / the
/// environment ("Cluster" and "Lwf" sections), with /health/live and /health/ready. The `lwf` console
/// reuses it to start silos inside its own process (embedded mode).
/// </summary>
public static partial class LwfSiloHost
{
    /// <param name="certificates">The cluster's TLS identity when the caller made one (the embedded cluster); else it is read from Cluster:TlsDirectory.</param>
    public static WebApplication Build(string[] args, Action<IConfigurationBuilder>? configure = null, ClusterCertificates? certificates = null)
    {
        Lwf.Core.NativeMemory.KeepLargeAllocationsOnHeap();
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder.Configuration);
        // Before the first tensor (the warm-up's): libtorch sizes its pool once. Validated with the rest of the options.
        if (int.TryParse(builder.Configuration[LwfSiloOptions.TorchThreadsKey], out int threads) && threads is > 0 and <= 1024) TorchSharp.torch.set_num_threads(threads);
        TorchWarmup.Run();
        var cluster = builder.Configuration.GetSection(LwfClusterOptions.Section).Get<LwfClusterOptions>() ?? new LwfClusterOptions();
        Validate(cluster, certificates is not null);
        var membership = builder.Configuration.GetSection(LwfMembershipOptions.Section).Get<LwfMembershipOptions>() ?? new LwfMembershipOptions();
        ValidateSection(membership, LwfMembershipOptions.Section);
        var tls = cluster.Tls == ClusterTls.Off ? null : certificates ?? ClusterCertificates.Load(cluster.TlsDirectory!, ClusterRole.Silo);
        if (tls is not null)
        {
            builder.Services.AddSingleton(tls);
            builder.Services.AddSingleton(SiloCallProof.From(tls));
            builder.Services.AddSingleton(new ClientCallProof(tls));
        }
        Microsoft.Extensions.DependencyInjection.Extensions.ServiceCollectionDescriptorExtensions.TryAddSingleton(builder.Services, TimeProvider.System);
        builder.Services.AddOptions<LwfSiloOptions>().Bind(builder.Configuration.GetSection(LwfSiloOptions.Section))
            .PostConfigure(o => o.DataRoot = Path.GetFullPath(o.EffectiveDataRoot)) // fixed at start: a later change of directory moves nothing
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<Lwf.Grains.Telemetry.LwfMetrics>();
        // /metrics in the Prometheus text format: the LWF meter, Orleans' own and the .NET runtime's (memory, CPU, GC).
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(Lwf.Grains.Telemetry.LwfMetrics.MeterName, "Microsoft.Orleans", "System.Runtime")
            .AddPrometheusExporter());
        builder.Services.AddSingleton<ModelReplicas>();
        // The data plane advertises the silo's own address unless Lwf:DataPlaneHost names one.
        builder.Services.AddSingleton(sp => new DataPlane(sp.GetRequiredService<IOptions<LwfSiloOptions>>(),
            sp.GetRequiredService<Lwf.Grains.Telemetry.LwfMetrics>(), sp.GetRequiredService<ILogger<DataPlane>>(), tls) { AdvertisedHost = (ClusteringMode.OnLoopback(cluster.Clustering) ? IPAddress.Loopback : Advertised(cluster)).ToString() });
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DataPlane>());
        builder.Services.AddKeyedSingleton<IGrainStorage, JobFolderStorage>(JobFolderStorage.Name);
        builder.Services.AddHostedService<JobWatchdog>();
        builder.Services.AddHostedService<RingWatch>(); // a dead silo's collectives end at once on the survivors
        builder.UseOrleans(silo =>
        {
            ConfigureClustering(silo, cluster);
            if (tls is not null) silo.UseClusterTls(tls);
            silo.Configure<ClusterOptions>(o => { o.ClusterId = cluster.ClusterId; o.ServiceId = cluster.ServiceId; });
            silo.Configure<ClusterMembershipOptions>(membership.ApplyTo);
            silo.Services.AddLwfExceptionSerialization();
            silo.Configure<SiloMessagingOptions>(o => o.MaxMessageBodySize = cluster.MaxMessageBodyBytes);
            silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromMinutes(10));
            silo.AddPlacementDirector<ShardSpreadPlacement, ShardSpreadPlacementDirector>();
            silo.AddIncomingGrainCallFilter<Lwf.Grains.Security.ClientCallFilter>();
            if (tls is not null) silo.AddOutgoingGrainCallFilter<SiloCallSigner>();
            silo.AddMemoryGrainStorageAsDefault();
            // The strongly consistent directory keeps a grain's entry when the silo holding that part of the
            // directory dies; with the default one, a running trainer could get a second activation.
#pragma warning disable ORLEANSEXP003
            silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
        });
        var app = builder.Build();
        LogThreads(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(LwfSiloHost)), TorchSharp.torch.get_num_threads());
        app.MapPrometheusScrapingEndpoint();
        app.MapGet("/health/live", () => Results.Ok("live"));
        app.MapGet("/health/ready", (IServiceProvider services) => Ready(services) is { } problem
            ? Results.Problem(problem, statusCode: 503) : Results.Ok("ready"));
        return app;
    }

    private static void ValidateSection<T>(T options, string section) where T : class
    {
        var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        if (!System.ComponentModel.DataAnnotations.Validator.TryValidateObject(options, new(options), results, validateAllProperties: true))
            throw new OptionsValidationException(section, typeof(T), results.Select(r => r.ErrorMessage is { } m && m.StartsWith(section + ":", StringComparison.Ordinal)
                ? m : $"{section}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage ?? "invalid"}"));
    }

    private static void Validate(LwfClusterOptions cluster, bool haveCertificates)
    {
        ValidateSection(cluster, LwfClusterOptions.Section);
        if (cluster.Clustering == ClusteringMode.Redis && string.IsNullOrWhiteSpace(cluster.RedisConnectionString))
            throw new OptionsValidationException(LwfClusterOptions.Section, typeof(LwfClusterOptions), ["Cluster:RedisConnectionString is required for redis clustering"]);
        if (cluster.Tls == ClusterTls.Mutual && !haveCertificates && string.IsNullOrWhiteSpace(cluster.TlsDirectory))
            throw new OptionsValidationException(LwfClusterOptions.Section, typeof(LwfClusterOptions),
                ["Cluster:TlsDirectory is required: mutual TLS is on by default (`lwf cluster certs --out DIR` makes ca.crt, tls.crt and tls.key in DIR/silo, for silos, and DIR/client; Cluster:Tls=off runs without, on a network nothing else can reach)"]);
        if (cluster.Clustering == ClusteringMode.File && string.IsNullOrWhiteSpace(cluster.MembershipDirectory))
            throw new OptionsValidationException(LwfClusterOptions.Section, typeof(LwfClusterOptions), ["Cluster:MembershipDirectory is required for file clustering"]);
        if (cluster.Clustering == ClusteringMode.AdoNet && string.IsNullOrWhiteSpace(cluster.AdoNetConnectionString))
            throw new OptionsValidationException(LwfClusterOptions.Section, typeof(LwfClusterOptions), ["Cluster:AdoNetConnectionString is required for adonet clustering"]);
    }

    private static void ConfigureClustering(ISiloBuilder silo, LwfClusterOptions cluster)
    {
        switch (cluster.Clustering)
        {
            case ClusteringMode.Localhost:
                silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort,
                    new IPEndPoint(IPAddress.Loopback, cluster.PrimarySiloPort), cluster.ServiceId, cluster.ClusterId);
                break;
            case ClusteringMode.File:
                string directory = Path.GetFullPath(cluster.MembershipDirectory!);
                silo.Services.AddSingleton<IMembershipTable>(sp => ActivatorUtilities.CreateInstance<FileMembershipTable>(sp, directory));
                silo.ConfigureEndpoints(IPAddress.Loopback, cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: false);
                break;
            case ClusteringMode.Redis:
                silo.UseRedisClustering(cluster.RedisConnectionString!);
                // The silo and gateway listen on the address they advertise only, not on every interface.
                silo.ConfigureEndpoints(Advertised(cluster), cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: false);
                break;
            case ClusteringMode.AdoNet:
                silo.UseAdoNetClustering(o => { o.Invariant = cluster.AdoNetInvariant; o.ConnectionString = cluster.AdoNetConnectionString; });
                silo.ConfigureEndpoints(Advertised(cluster), cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: false);
                break;
        }
    }

    private static IPAddress Advertised(LwfClusterOptions cluster) =>
        cluster.AdvertisedAddress is { Length: > 0 } a ? IPAddress.Parse(a)
            : Dns.GetHostAddresses(Dns.GetHostName()).FirstOrDefault(ip => ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) ?? IPAddress.Loopback;

    /// <summary>Null when the silo has joined the cluster and its device works; else why not.</summary>
    private static string? Ready(IServiceProvider services)
    {
        var membership = services.GetRequiredService<IClusterMembershipService>();
        var self = services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        if (!membership.CurrentSnapshot.Members.TryGetValue(self, out var member) || member.Status != SiloStatus.Active)
            return "the silo has not joined the cluster";
        try
        {
            Devices.Resolve(services.GetRequiredService<IOptions<LwfSiloOptions>>().Value.Device);
            return null;
        }
        catch (Lwf.Core.LwfInputException e)
        {
            return e.Message;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "libtorch threads: {Threads}")]
    private static partial void LogThreads(ILogger logger, int threads);
}
