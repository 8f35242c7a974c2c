using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Lwf.Abstractions;
using Lwf.Grains.Security;
using Lwf.Silo;
using Microsoft.Extensions.DependencyInjection;

namespace Lwf.Grains.Tests;

/// <summary>
/// Clients told apart by their certificates (<see cref="ClientIdentity"/>): a tenant's job is its own, and an operator's
/// to see; a client certificate without a subject does not connect; a call's proof is its sender's alone.
/// </summary>
public sealed class TenantTests
{
    [Fact]
    public async Task A_tenants_job_is_refused_to_another_tenant_and_open_to_its_owner_and_an_operator()
    {
        string job = Repo.Path("cluster", "jobs", "tiny-lwf.yaml"), checkpoints = Repo.NewTempDir();
        await using var cluster = await LocalCluster.StartAsync(1, checkpoints);
        using var aliceCertificate = cluster.Authority.Issue(ClusterRole.Client, new ClientIdentity("alice", false));
        using var bobCertificate = cluster.Authority.Issue(ClusterRole.Client, new ClientIdentity("bob", false));
        using var aliceHost = await ClusterTlsTests.Client(cluster, aliceCertificate);
        using var bobHost = await ClusterTlsTests.Client(cluster, bobCertificate);
        using var operatorHost = await ClusterTlsTests.Client(cluster, cluster.ClientCertificates);
        var alice = aliceHost.Services.GetRequiredService<IClusterClient>();
        var bob = bobHost.Services.GetRequiredService<IClusterClient>();
        var admin = operatorHost.Services.GetRequiredService<IClusterClient>();

        var submitted = await alice.GetGrain<ITrainerGrain>("alices-job").Submit(new JobRequest(job));
        Assert.NotEqual(JobPhase.Failed, submitted.Phase);
        var asBob = bob.GetGrain<ITrainerGrain>("alices-job");
        // Bob may not watch, cancel, resume, read the log of, fetch, remove or re-submit Alice's job: each is refused
        // with one line that says why, and the job runs on.
        var refusals = new (string Action, Func<Task> Call)[]
        {
            ("watch", async () => await asBob.GetStatus()),
            ("cancel", async () => await asBob.Cancel()),
            ("resume", async () => await asBob.Resume()),
            ("read the log of", async () => await asBob.GetLog(0)),
            ("fetch the results of", async () => await asBob.ListResults()),
            ("fetch the results of", async () => await asBob.GetResultChunk("report.md", 0, 100)),
            ("remove", async () => await asBob.Remove()),
            ("submit under its id", async () => await asBob.Submit(new JobRequest(job))),
        };
        foreach (var (action, call) in refusals)
        {
            var refused = await Assert.ThrowsAsync<UnauthorizedAccessException>(call);
            Assert.Equal($"job alices-job is not yours (bob): only its owner and the cluster's operators may {action} it", refused.Message);
        }
        Assert.DoesNotContain("alices-job", await bob.GetGrain<IJobDirectoryGrain>(0).List());
        Assert.Empty(await bob.GetGrain<IJobDirectoryGrain>(0).Folders());

        // Its owner and an operator see it, the folder names its owner, and the operator may stop it.
        Assert.Equal("alices-job", (await alice.GetGrain<ITrainerGrain>("alices-job").GetStatus()).JobId);
        Assert.Contains("alices-job", await alice.GetGrain<IJobDirectoryGrain>(0).List());
        var folder = Assert.Single(await admin.GetGrain<IJobDirectoryGrain>(0).Folders());
        Assert.Equal(("alices-job", "alice.tenant.lwf-orleans"), (folder.JobId, folder.Owner));
        Assert.NotEmpty((await admin.GetGrain<ITrainerGrain>("alices-job").GetLog(0)).Text);
        await admin.GetGrain<ITrainerGrain>("alices-job").Cancel();
        var deadline = DateTime.UtcNow.AddMinutes(3);
        JobStatus status;
        while (!(status = await alice.GetGrain<ITrainerGrain>("alices-job").GetStatus()).Phase.IsFinal() && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.Equal(JobPhase.Cancelled, status.Phase);

        // Bob's own job is Bob's.
        var bobs = await bob.GetGrain<ITrainerGrain>("bobs-job").Submit(new JobRequest(job));
        Assert.NotEqual(JobPhase.Failed, bobs.Phase);
        await bob.GetGrain<ITrainerGrain>("bobs-job").Cancel();
        Assert.Equal(["bobs-job"], await bob.GetGrain<IJobDirectoryGrain>(0).List());
        Assert.Equal(["alices-job"], await alice.GetGrain<IJobDirectoryGrain>(0).List());
        Assert.Equal(2, (await admin.GetGrain<IJobDirectoryGrain>(0).List()).Length);

        // Files Alice uploaded are hers: Bob may not submit them under her id (he would own a model of her data).
        byte[] jobBytes = "name: alices-upload\n"u8.ToArray();
        var upload = alice.GetGrain<IJobUploadGrain>("alices-upload");
        string token = await upload.Begin(new UploadManifest("job.yaml", [new UploadFile("job.yaml", jobBytes.Length)]));
        await upload.Write(token, 0, 0, jobBytes);
        string uploaded = await upload.Complete(token, [Convert.ToHexStringLower(SHA256.HashData(jobBytes))]);
        var taken = await Assert.ThrowsAsync<UnauthorizedAccessException>(async () => await bob.GetGrain<ITrainerGrain>("alices-upload").Submit(new JobRequest(uploaded)));
        Assert.Equal("the files uploaded for job alices-upload are not yours (bob): submit your own upload under another id", taken.Message);
        Assert.DoesNotContain("alices-upload", await admin.GetGrain<IJobDirectoryGrain>(0).List());

        // A job on the data root that names another job's files on the checkpoint volume: refused at submit.
        string prying = Path.Combine(Repo.NewTempDir(), "pry.yaml");
        File.WriteAllText(prying, File.ReadAllText(job).Replace("../../examples/jobs/licenses/held-out.jsonl",
            Path.Combine(checkpoints, "alices-job", "job.log")).Replace("../../", Repo.Root + "/"));
        var pried = await bob.GetGrain<ITrainerGrain>("prying").Submit(new JobRequest(prying));
        Assert.Equal(JobPhase.Failed, pried.Phase);
        Assert.Contains($"is in the cluster's checkpoint volume {checkpoints}, which jobs do not read", pried.Message);

        // A tenant named like the operator is another person; the benchmark is the operators' alone.
        using var namesakeCertificate = cluster.Authority.Issue(ClusterRole.Client, new ClientIdentity(ClientIdentity.Admin, false));
        using var namesakeHost = await ClusterTlsTests.Client(cluster, namesakeCertificate);
        var namesake = namesakeHost.Services.GetRequiredService<IClusterClient>();
        var opsJob = await admin.GetGrain<ITrainerGrain>("operators-job").Submit(new JobRequest(job));
        Assert.NotEqual(JobPhase.Failed, opsJob.Phase);
        await admin.GetGrain<ITrainerGrain>("operators-job").Cancel();
        await Assert.ThrowsAsync<UnauthorizedAccessException>(async () => await namesake.GetGrain<ITrainerGrain>("operators-job").GetStatus());
        var bench = await Assert.ThrowsAsync<UnauthorizedAccessException>(async () => await bob.GetGrain<ICollectiveBenchGrain>("bench/0").Prepare(1));
        Assert.Equal("lwf bench allreduce is for the cluster's operators; bob is a tenant", bench.Message);
    }

    [Fact]
    public async Task A_client_certificate_without_a_subject_is_refused_at_connect()
    {
        await using var cluster = await LocalCluster.StartAsync(1, Repo.NewTempDir());
        using var nobody = Unnamed(cluster.Authority);
        Assert.False(cluster.Certificates.Admits(nobody.Member, ClusterRole.Client));
        await Assert.ThrowsAnyAsync<Exception>(async () => (await ClusterTlsTests.Client(cluster, nobody, ClusterTlsTests.RefusedWithin)).Dispose());
        // Two subjects are none.
        using var twice = Unnamed(cluster.Authority, "alice.tenant.lwf-orleans", "bob.operator.lwf-orleans");
        Assert.Null(ClientIdentity.Of(twice.Member));
        Assert.False(cluster.Certificates.Admits(twice.Member, ClusterRole.Client));
        // The same authority's certificate with a subject connects.
        using var named = cluster.Authority.Issue(ClusterRole.Client, new ClientIdentity("carol", false));
        using var host = await ClusterTlsTests.Client(cluster, named);
        Assert.Empty(await host.Services.GetRequiredService<IClusterClient>().GetGrain<IJobDirectoryGrain>(0).List());
    }

    [Fact]
    public void A_client_call_proof_holds_for_its_certificate_target_method_and_time_only()
    {
        using var authority = ClusterAuthority.Create("proof");
        using var silo = authority.Issue(ClusterRole.Silo);
        using var alice = authority.Issue(ClusterRole.Client, new ClientIdentity("alice", false));
        using var other = ClusterAuthority.Create("other");
        using var stranger = other.Issue(ClusterRole.Client, new ClientIdentity("alice", false));
        var verifier = new ClientCallProof(silo);
        var status = typeof(ITrainerGrain).GetMethod(nameof(ITrainerGrain.GetStatus))!;
        var cancel = typeof(ITrainerGrain).GetMethod(nameof(ITrainerGrain.Cancel))!;
        var target = GrainId.Create("trainer", "job");
        var now = DateTimeOffset.UtcNow;
        string made = ClientCallProof.Make(alice.Member, target, status, now);
        Assert.Equal(new ClientIdentity("alice", false), verifier.Verify(made, target, status, now));
        Assert.Equal(new ClientIdentity("alice", false), verifier.Verify(made, target, status, now + TimeSpan.FromMinutes(9)));
        Assert.Null(verifier.Verify(made, GrainId.Create("trainer", "other"), status, now));
        Assert.Null(verifier.Verify(made, target, cancel, now));
        Assert.Null(verifier.Verify(made, target, status, now + SiloCallProof.Window + TimeSpan.FromSeconds(2)));
        // Another authority's "alice" proves nothing; a console holding the silos' certificate is inside the cluster already: an operator.
        Assert.Null(verifier.Verify(ClientCallProof.Make(stranger.Member, target, status, now), target, status, now));
        Assert.Equal(ClientIdentity.Silos, verifier.Verify(ClientCallProof.Make(silo.Member, target, status, now), target, status, now));
        using var otherSilo = other.Issue(ClusterRole.Silo);
        Assert.Null(verifier.Verify(ClientCallProof.Make(otherSilo.Member, target, status, now), target, status, now));
        // Alice's certificate with a signature of another key: the certificate is public, the key is not.
        string[] parts = made.Split('.');
        string borrowed = $"{parts[0]}.{parts[1]}.{ClientCallProof.Make(stranger.Member, target, status, now).Split('.')[2]}";
        Assert.Null(verifier.Verify(borrowed, target, status, now));
        foreach (string? bad in new[] { null, "", "..", "x.y.z", $"{parts[0]}.{parts[1]}.", $"{parts[0]}..{parts[2]}", new string('1', 9000) })
            Assert.Null(verifier.Verify(bad, target, status, now));
    }

    /// <summary>A client's certificate from <paramref name="authority"/> whose DNS names carry no subject, or the ones given.</summary>
    private static ClusterCertificates Unnamed(ClusterAuthority authority, params string[] names)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={ClusterCertificates.ClientName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(ClusterCertificates.ClientName);
        foreach (string name in names) san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        using var issued = request.Create(authority.Certificate, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3, 4]);
        return ClusterCertificates.Issued(X509CertificateLoader.LoadCertificate(authority.Certificate.RawData), issued.CopyWithPrivateKey(key), ClusterRole.Client);
    }
}
