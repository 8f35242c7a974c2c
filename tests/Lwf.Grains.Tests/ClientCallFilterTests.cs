using Lwf.Abstractions;
using Lwf.Grains.Security;
using Lwf.Silo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Lwf.Grains.Tests;

/// <summary>
/// A program that knows the gateway's port and the cluster's id and holds a client certificate: it reaches the client
/// API and nothing else, while the silos' own calls (a job's whole run) go through.
/// </summary>
public sealed class ClientCallFilterTests
{
    /// <summary>
    /// An Orleans client of its own process's making, connected through the first silo's gateway over TCP: it holds the
    /// cluster's client certificate (without one, it could not connect at all: <see cref="ClusterTlsTests"/>).
    /// </summary>
    private static Task<IHost> ForeignClient(LocalCluster cluster) => ClusterTlsTests.Client(cluster, cluster.ClientCertificates);

    [Fact]
    public async Task A_foreign_client_reaches_the_client_api_only_and_the_silos_own_calls_pass()
    {
        string job = Repo.Path("cluster", "jobs", "tiny-lwf.yaml");
        string checkpoints = Repo.NewTempDir();
        await using var cluster = await LocalCluster.StartAsync(1, checkpoints);
        using var foreign = await ForeignClient(cluster);
        var client = foreign.Services.GetRequiredService<IClusterClient>();

        // The client API answers: a job submitted by the stranger is a job like any other.
        var status = await client.GetGrain<ITrainerGrain>("from-outside").Submit(new JobRequest(job));
        Assert.NotEqual(JobPhase.Failed, status.Phase);
        Assert.Contains("from-outside", await client.GetGrain<IJobDirectoryGrain>(0).List());

        // The silos' own methods do not: not a shard's Prepare (which would change that job's data), not the coordinator's steps.
        var prepare = await Assert.ThrowsAnyAsync<Exception>(async () =>
            await client.GetGrain<IShardGrain>("from-outside/0").Prepare(new ShardSetup(job, 0, 2, Repo.NewTempDir(), null)));
        Assert.Equal("IShardGrain.Prepare is not part of the client API: only the cluster's silos call it", prepare.Message);
        Assert.IsType<UnauthorizedAccessException>(prepare);
        var step = await Assert.ThrowsAnyAsync<Exception>(async () => await client.GetGrain<ICoordinatorGrain>("from-outside").LearningStep([0], [], false));
        Assert.Equal("ICoordinatorGrain.LearningStep is not part of the client API: only the cluster's silos call it", step.Message);

        // The job the stranger submitted ran to its end through the silos' own calls (trainer → coordinator → shards).
        var trainer = client.GetGrain<ITrainerGrain>("from-outside");
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (!(status = await trainer.GetStatus()).Phase.IsFinal() && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.True(status.Phase == JobPhase.Done, $"{status.Phase}: {status.Message}");

        // The sender a message names is the client's to write (the gateway does not check it): a forger naming a grain,
        // or a silo's hosted client, is still refused without the silos' proof; a silo's proof passes.
        var filter = ActivatorUtilities.CreateInstance<ClientCallFilter>(cluster.Silos[0].Services);
        var prepareMethod = typeof(IShardGrain).GetMethod(nameof(IShardGrain.Prepare))!;
        var shard = GrainId.Create("shard", "from-outside/0");
        var siloAddress = cluster.Silos[0].Services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        foreach (var forged in new GrainId?[] { GrainId.Create("trainer", "from-outside"), GrainId.Create("sys.client", "hosted-" + siloAddress.ToParsableString()), null })
            Assert.True(filter.Refuses(prepareMethod, shard, forged, proof: null), $"{forged} without a proof");
        var silos = cluster.Silos[0].Services.GetRequiredService<SiloCallProof>();
        Assert.False(filter.Refuses(prepareMethod, shard, null, silos.Make(shard, prepareMethod, DateTimeOffset.UtcNow)));
        Assert.True(filter.Refuses(prepareMethod, shard, null, "0.AAAA"));
        // The client API needs no proof.
        Assert.False(filter.Refuses(typeof(ITrainerGrain).GetMethod(nameof(ITrainerGrain.GetStatus))!, GrainId.Create("trainer", "x"), null, null));
    }

    [Fact]
    public void A_silo_call_proof_holds_for_its_key_target_method_and_time_only()
    {
        var (silo, client) = ClusterCertificates.Create("proof");
        var (otherSilo, otherClient) = ClusterCertificates.Create("other");
        using var _ = silo; using var __ = client; using var ___ = otherSilo; using var ____ = otherClient;
        var proof = SiloCallProof.From(silo);
        var prepare = typeof(IShardGrain).GetMethod(nameof(IShardGrain.Prepare))!;
        var step = typeof(ICoordinatorGrain).GetMethod(nameof(ICoordinatorGrain.LearningStep))!;
        var target = GrainId.Create("shard", "job/0");
        var now = DateTimeOffset.UtcNow;
        string made = proof.Make(target, prepare, now);
        Assert.True(proof.Verify(made, target, prepare, now));
        Assert.True(SiloCallProof.From(silo).Verify(made, target, prepare, now + TimeSpan.FromMinutes(9))); // the same key, a later clock
        Assert.False(proof.Verify(made, GrainId.Create("shard", "job/1"), prepare, now));
        Assert.False(proof.Verify(made, target, step, now));
        Assert.False(proof.Verify(made, target, prepare, now + SiloCallProof.Window + TimeSpan.FromSeconds(2)));
        Assert.False(SiloCallProof.From(otherSilo).Verify(made, target, prepare, now));
        foreach (string? bad in new[] { null, "", ".", "x.y", made.Split('.')[0] + ".", made[..^4] + "AAA=", new string('1', 200) })
            Assert.False(proof.Verify(bad, target, prepare, now), bad);
        // A client's key proves nothing: it cannot key a proof.
        Assert.Throws<ArgumentException>(() => SiloCallProof.From(client));
    }

    [Fact]
    public void The_client_api_is_what_the_console_calls()
    {
        static bool Api(Type type, string method) => type.GetMethods().Where(m => m.Name == method).All(ClientCallFilter.IsClientApi);
        foreach (var method in typeof(ITrainerGrain).GetMethods()) Assert.True(ClientCallFilter.IsClientApi(method), method.Name);
        Assert.True(Api(typeof(IJobDirectoryGrain), nameof(IJobDirectoryGrain.List)));
        Assert.True(Api(typeof(IManagementGrain), nameof(IManagementGrain.GetHosts)));
        Assert.False(Api(typeof(IManagementGrain), nameof(IManagementGrain.ForceGarbageCollection)));
        foreach (var method in typeof(IShardGrain).GetMethods().Concat(typeof(ICoordinatorGrain).GetMethods()))
            Assert.False(ClientCallFilter.IsClientApi(method), method.Name);
        // Every LWF grain interface is either client API or the silos' own: a new one is refused to clients until marked.
        var interfaces = typeof(ClientApiAttribute).Assembly.GetTypes().Where(t => t.IsInterface && typeof(IGrain).IsAssignableFrom(t)).ToList();
        Assert.Equal(["ICollectiveBenchGrain", "IJobDirectoryGrain", "IJobUploadGrain", "ITrainerGrain"],
            interfaces.Where(t => t.GetMethods().All(ClientCallFilter.IsClientApi)).Select(t => t.Name).Order());
    }
}
