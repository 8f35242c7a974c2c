using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Lwf.Abstractions;
using Lwf.Grains.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Lwf.EndToEnd.Tests;

/// <summary>Real silo processes on loopback (TCP), driven only through the `lwf` client.</summary>
public sealed class MultiProcessClusterTests
{
    private static readonly string TinyJob = Path.Combine(Lwf.RepoRoot, "cluster", "jobs", "tiny-lwf.yaml");

    /// <summary>A console of its own whose commands run in the repository: `cluster up` takes it as the data root, and the tiny job lies in it.</summary>
    private static Lwf InRepo() => new(Lwf.NewTempDir()) { WorkingDirectory = Lwf.RepoRoot };

    private static string SingleProcessWeights()
    {
        string dir = Lwf.NewTempDir();
        new Lwf(Lwf.NewTempDir()).Ok("train", TinyJob, "--out", dir);
        return Path.Combine(dir, "model", "model.safetensors");
    }

    /// <summary>The tiny job in a folder of its own: its data, its model's config and the job file, named relative to it.</summary>
    private static string SelfContainedTinyJob(string dir)
    {
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        Directory.CreateDirectory(Path.Combine(dir, "model"));
        foreach (var file in Directory.GetFiles(Path.Combine(Lwf.RepoRoot, "examples", "jobs", "licenses"), "*.jsonl"))
            File.Copy(file, Path.Combine(dir, "data", Path.GetFileName(file)));
        File.Copy(Path.Combine(Lwf.RepoRoot, "examples", "models", "gpt2-tiny-bpe", "config.json"), Path.Combine(dir, "model", "config.json"));
        string job = Path.Combine(dir, "job.yaml");
        File.WriteAllText(job, File.ReadAllText(TinyJob).Replace("../../examples/models/gpt2-tiny-bpe", "model").Replace("../../examples/jobs/licenses/", "data/"));
        return job;
    }

    [Fact]
    public void A_job_submitted_from_a_folder_the_silos_cannot_read_is_uploaded_runs_and_its_results_come_back()
    {
        string root = Lwf.NewTempDir(), folder = Lwf.NewTempDir();
        string job = SelfContainedTinyJob(folder);
        // The client runs in the job's folder; the silos' data root is an empty folder elsewhere, so only the upload reaches them.
        var lwf = new Lwf(Lwf.NewTempDir()) { WorkingDirectory = folder };
        lwf.Env["Lwf__MaxUploadBytes"] = "200000"; // the job is about 62 kB; the silos inherit `cluster up`'s environment
        lwf.Ok("cluster", "up", "--silos", "2", "--data-root", root);
        try
        {
            var onCluster = lwf.Run("submit", "--on-cluster", "job.yaml");
            Assert.Equal(2, onCluster.ExitCode);
            Assert.Contains("outside the cluster's data root", onCluster.Stderr);

            var (code, stdout, stderr) = lwf.Run("submit", "job.yaml", "--wait");
            Assert.True(code == 0, stdout + stderr);
            Assert.Contains("uploaded 7 file(s)", stderr); // the job file, the model's config, five datasets
            string id = stdout.Split('\n')[1].Trim();
            Assert.Contains($"{id}: done", stdout);
            string results = Path.Combine(Lwf.NewTempDir(), "results");
            lwf.Ok("results", id, "--out", results);
            // The tiny job sums in float64: the uploaded copy on two silos trains one process's weights from the originals.
            Assert.Equal(File.ReadAllBytes(SingleProcessWeights()), File.ReadAllBytes(Path.Combine(results, "model", "model.safetensors")));
            Assert.True(File.Exists(Path.Combine(results, "model", "vocab.json")));
            string log = lwf.Ok("logs", id);
            Assert.Contains(" submitted ", log);
            Assert.Contains("checkpoint 4 written", log);
            Assert.Contains("step 12/12: loss ", log);
            Assert.Matches(@"\d{4}-\d\d-\d\dT[\d:.]+Z done after ", log.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);

            // --wait --json: every stdout line an event (for jq), the job id in the first; the upload's note on stderr.
            var json = lwf.Run("submit", "job.yaml", "--wait", "--json");
            Assert.True(json.ExitCode == 0, json.Stdout + json.Stderr);
            var events = json.Stdout.Trim().Split('\n').Select(line => JsonDocument.Parse(line).RootElement).ToList();
            Assert.Equal("submitted", events[0].GetProperty("event").GetString());
            string jsonId = events[0].GetProperty("job").GetString()!;
            Assert.NotEqual(id, jsonId);
            Assert.All(events, e => Assert.Equal(jsonId, e.GetProperty("job").GetString()));
            Assert.Equal(("end", "done"), (events[^1].GetProperty("event").GetString(), events[^1].GetProperty("phase").GetString()));
            Assert.Contains("uploaded 7 file(s)", json.Stderr);
            // lwf watch --json of a job submitted without --wait: one event per line, each later than the one before.
            string watched = lwf.Ok("submit", "job.yaml").Trim().Split('\n')[^1];
            var watch = lwf.Run("watch", watched, "--json");
            Assert.True(watch.ExitCode == 0, watch.Stdout + watch.Stderr);
            var watchEvents = watch.Stdout.Trim().Split('\n').Select(line => JsonDocument.Parse(line).RootElement).ToList();
            var times = watchEvents.Select(e => e.GetProperty("time").GetDateTimeOffset()).ToList();
            Assert.True(times.Count >= 3 && times.Zip(times.Skip(1)).All(p => p.Second > p.First), watch.Stdout);
            Assert.Equal(("end", "done"), (watchEvents[^1].GetProperty("event").GetString(), watchEvents[^1].GetProperty("phase").GetString()));

            // Over the cluster's cap: refused before a byte is sent, with the cap and its setting.
            string big = Path.Combine(folder, "data", "big.jsonl");
            File.WriteAllLines(big, Enumerable.Repeat(File.ReadAllLines(Path.Combine(folder, "data", "held-out.jsonl"))[0], 4000));
            File.WriteAllText(Path.Combine(folder, "big.yaml"), File.ReadAllText(job).Replace("data/held-out.jsonl", "data/big.jsonl"));
            var tooBig = lwf.Run("submit", "big.yaml");
            Assert.Equal(2, tooBig.ExitCode);
            Assert.Matches(@"^error: the upload is [\d,]+ bytes \(7 files\); this cluster takes at most 200,000 \(Lwf__MaxUploadBytes\)", tooBig.Stderr.Trim());
            // A path out of the folder it is uploaded from: refused here, naming the key (before it is looked for).
            File.WriteAllText(Path.Combine(folder, "escape.yaml"), File.ReadAllText(job).Replace("data/held-out.jsonl", "../elsewhere.jsonl"));
            File.Copy(Path.Combine(folder, "data", "held-out.jsonl"), Path.Combine(Path.GetDirectoryName(folder)!, "elsewhere.jsonl"), overwrite: true);
            var escape = lwf.Run("submit", "escape.yaml", "--working-dir", ".");
            Assert.Equal(2, escape.ExitCode);
            Assert.Contains("data.held_out", escape.Stderr);
            Assert.Contains($"is outside the folder it is uploaded from (--working-dir) {folder}", escape.Stderr);
            Assert.Contains($"; --working-dir {Path.GetDirectoryName(folder)} holds every file the job names (or leave --working-dir out)", escape.Stderr);
            Assert.Single(escape.Stderr.Trim().Split('\n'));
            // Neither refused upload left a job behind.
            Assert.Equal(3, lwf.Ok("status").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        }
        finally
        {
            lwf.Run("cluster", "down");
        }
    }

    [Fact]
    public async Task Three_silo_processes_run_a_job_through_the_client()
    {
        var lwf = InRepo(); // the tiny job's float64 sums: one process's weights
        lwf.Ok("cluster", "up", "--silos", "3");
        try
        {
            Assert.Equal(3, lwf.Silos().Select(s => s.Pid).Distinct().Count());
            // cluster.json may hold a Redis password: readable by its owner only.
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(lwf.Home, "cluster.json")));
            string clusterStatus = lwf.Ok("cluster", "status");
            Assert.Contains("3 active silo(s)", clusterStatus);
            // A table people read: a header, a row per silo with its host:port (not Orleans' internal address) and memory.
            var statusLines = clusterStatus.Split('\n');
            Assert.Matches(@"^SILO\s+HOST:PORT\s+STATE\s+DEVICE\s+JOBS\s+SHARDS\s+MEMORY\s+METRICS$", statusLines[0]);
            Assert.True(statusLines.Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^pid \d+\s+127\.0\.0\.1:\d+\s+active\s+cpu\s+\d+\s+\d+\s+[\d.]+ (KiB|MiB|GiB)\s+http://")) == 3, clusterStatus);
            Assert.DoesNotContain("S127.0.0.1", clusterStatus);
            string id = lwf.Ok("submit", "--on-cluster", TinyJob).Trim().Split('\n')[^1];
            var (code, stdout, stderr) = lwf.Run("watch", id);
            Assert.True(code == 0, stdout + stderr);
            // Prometheus' file_sd targets (cluster/prometheus/prometheus.yml) name every silo; each serves its LWF
            // metrics, and the trainer's silo (one of them) its optimizer steps.
            var targets = PrometheusTargets(lwf);
            Assert.Equal(3, targets.Count);
            using var http = new HttpClient();
            var scrapes = new List<string>();
            foreach (string target in targets) scrapes.Add(await http.GetStringAsync($"http://{target}/metrics"));
            Assert.All(scrapes, text => Assert.Contains("lwf_jobs{", text));
            Assert.Single(scrapes, text => text.Contains("lwf_optimizer_steps_total{", StringComparison.Ordinal));
            Assert.Contains("| learn (40) | accuracy ↑ |", stdout);
            Assert.Contains($"{id}: done", lwf.Ok("status"));
            // The same id again: no second job; the client is told about the existing one.
            Assert.Contains("submitted", lwf.Ok("submit", "--on-cluster", TinyJob, "--id", id));
            Assert.Single(lwf.Ok("status").Split('\n'), line => line.StartsWith(id));
            Assert.Contains($"{id}: done", lwf.Ok("status", id));
            // Another job file under that id: refused, not "submitted".
            string other = Path.Combine(Lwf.RepoRoot, "cluster", "jobs", $".other-{Guid.NewGuid():N}.yaml");
            File.WriteAllText(other, File.ReadAllText(TinyJob));
            try
            {
                var (otherCode, _, otherErr) = lwf.Run("submit", "--on-cluster", other, "--id", id);
                Assert.Equal(2, otherCode);
                Assert.Contains($"job id '{id}' is taken by {TinyJob}", otherErr);
            }
            finally { File.Delete(other); }
            var unknown = lwf.Run("cancel", "no-such-job");
            Assert.Equal(2, unknown.ExitCode);
            Assert.Contains("error: no job 'no-such-job' on this cluster", unknown.Stderr);
            var notCancelled = lwf.Run("resume", id); // only a cancelled job goes on
            Assert.Equal(2, notCancelled.ExitCode);
            Assert.Contains($"error: {id}: only a cancelled job is resumed; this one is done", notCancelled.Stderr);
            string results = Lwf.NewTempDir();
            lwf.Ok("results", id, "--out", results);
            foreach (var file in new[] { "report.json", "report.md", "loss-curves.png", "confidence-histogram.png", "model/model.safetensors" })
                Assert.True(File.Exists(Path.Combine(results, file)), file);
            // A folder with files in it is written into only when asked.
            var again = lwf.Run("results", id, "--out", results);
            Assert.Equal(2, again.ExitCode);
            Assert.Contains("is not empty", again.Stderr);
            lwf.Ok("results", id, "--out", results, "--force");
            // The same weights as one process: the step sums are layout-independent (tiny-lwf: one record per micro-batch).
            Assert.Equal(File.ReadAllBytes(SingleProcessWeights()), File.ReadAllBytes(Path.Combine(results, "model", "model.safetensors")));
            // `lwf jobs` lists it with its disk; `lwf jobs rm` frees that disk, and the job is gone from every listing.
            string jobs = lwf.Ok("jobs");
            Assert.Matches(@"^ID\s+STATE\s+STEP\s+AGE\s+DISK\n", jobs);
            Assert.Matches($@"(?m)^{id}\s+done\s+12/12\s+\d+ (s|min)\s+[\d.]+ (KiB|MiB|GiB)$", jobs);
            string jobFolder = Path.Combine(lwf.Home, "checkpoints", id);
            Assert.True(Directory.Exists(jobFolder), jobFolder);
            Assert.Matches($@"^removed {id}: [\d.]+ (KiB|MiB|GiB) freed", lwf.Ok("jobs", "rm", id));
            Assert.False(Directory.Exists(jobFolder));
            Assert.DoesNotContain(id, lwf.Ok("jobs"));
            Assert.DoesNotContain(id, lwf.Ok("status"));
        }
        finally
        {
            lwf.Run("cluster", "down");
        }
        Assert.False(File.Exists(Path.Combine(lwf.Home, "cluster.json")));
        Assert.Empty(PrometheusTargets(lwf));
    }

    private static List<string> PrometheusTargets(Lwf lwf)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(lwf.Home, "prometheus-targets.json")));
        return doc.RootElement.EnumerateArray().SelectMany(g => g.GetProperty("targets").EnumerateArray().Select(t => t.GetString()!)).ToList();
    }

    [Fact]
    public void Killing_a_silo_that_does_not_hold_the_trainer_while_a_bucket_is_in_flight_changes_nothing()
    {
        var lwf = InRepo(); // the tiny job's float64 sums: one process's weights
        // Every frame waits 150 ms before it leaves: a step spends most of its time with a bucket in flight.
        lwf.Env["Lwf__DataPlaneSendDelayMs"] = "150";
        lwf.Ok("cluster", "up", "--silos", "3");
        try
        {
            string id = lwf.Ok("submit", "--on-cluster", TinyJob).Trim().Split('\n')[^1];
            int trainerPort = 0;
            var deadline = DateTime.UtcNow.AddMinutes(2);
            // Wait until training is under way, then SIGKILL a silo that holds shards but not the trainer.
            while (DateTime.UtcNow < deadline)
            {
                string status = lwf.Ok("status", id);
                if (status.Contains("training step") && !status.Contains("step 0/")) break;
                Thread.Sleep(300);
            }
            var watchStart = lwf.Ok("status", id);
            Assert.Contains("training", watchStart);
            trainerPort = TrainerPort(lwf, id);
            // Not the first silo: that case has a test of its own.
            var victim = lwf.Silos().Skip(1).First(s => s.SiloPort != trainerPort);
            Process.GetProcessById(victim.Pid).Kill();
            var (code, stdout, stderr) = lwf.Run("watch", id);
            Assert.True(code == 0, stdout + stderr);
            // The ring was re-formed without the dead silo, and the step redone.
            string logs = string.Concat(Directory.GetFiles(lwf.Home, "silo-*.log").Select(File.ReadAllText));
            Assert.Contains("re-forming the ring", logs);
            string results = Lwf.NewTempDir();
            lwf.Ok("results", id, "--out", results);
            // The dead silo's shards are re-activated on the others, so the step's float64 sums are added in
            // another grouping. Float64 sums of float32 gradients are exact for almost every element but not for
            // all (terms more than 2^29 apart), so a float32 rounding may, rarely, come out one ulp apart (one CI
            // run in six differed in bytes). A lost or doubled shard contribution would differ by far more.
            string single = SingleProcessWeights();
            double difference = global::Lwf.Tests.TestSupport.MaxRelativeDifference(Path.GetDirectoryName(single)!, Path.Combine(results, "model"));
            Assert.True(difference <= 1e-5, $"weights differ from one process by {difference:E2} relative");
        }
        finally
        {
            lwf.Run("cluster", "down");
        }
    }

    [Fact]
    public void Killing_the_first_silo_of_a_default_cluster_mid_job_lets_the_job_complete()
    {
        // `cluster up`'s default (file) clustering keeps the membership table in $LWF_HOME, not in the first silo: it may die too.
        var lwf = InRepo();
        lwf.Env["Lwf__DataPlaneSendDelayMs"] = "150"; // a step spends most of its time with a bucket in flight
        lwf.Ok("cluster", "up", "--silos", "3");
        try
        {
            Assert.Single(Directory.GetFiles(Path.Combine(lwf.Home, "membership"), "*.membership"));
            // No --data-root: the folder `up` ran in is the root, and a job file outside it is refused.
            string outside = Path.Combine(Lwf.NewTempDir(), "tiny-lwf.yaml");
            File.Copy(TinyJob, outside);
            var refused = lwf.Run("submit", "--on-cluster", outside);
            Assert.True(refused.ExitCode == 2 && refused.Stderr.Contains("outside the cluster's data root " + Lwf.RepoRoot), refused.Stdout + refused.Stderr);
            string id = lwf.Ok("submit", "--on-cluster", TinyJob).Trim().Split('\n')[^1];
            var deadline = DateTime.UtcNow.AddMinutes(4);
            string status = "";
            while (DateTime.UtcNow < deadline && !((status = lwf.Ok("status", id)).Contains("training step") && !status.Contains("step 0/"))) Thread.Sleep(300);
            Assert.Contains("training", status);
            var first = lwf.Silos()[0];
            Process.GetProcessById(first.Pid).Kill();

            var (code, stdout, stderr) = lwf.Run("watch", id);
            Assert.True(code == 0, $"lwf watch exited {code}:\n" + System.Text.RegularExpressions.Regex.Replace(stdout + stderr, @"[\x00-\x08\x0B-\x1F\x7F]", "?"));
            Assert.Contains($"{id}: done", lwf.Ok("status", id));
            Assert.NotEqual(first.SiloPort, TrainerPort(lwf, id));
            string results = Lwf.NewTempDir();
            lwf.Ok("results", id, "--out", results);
            // Resumed from the surviving replicas, a checkpoint, or never interrupted (the trainer elsewhere, the ring
            // re-formed): the weights of one uninterrupted process, up to the float64 grouping of a re-formed ring.
            double difference = global::Lwf.Tests.TestSupport.MaxRelativeDifference(Path.GetDirectoryName(SingleProcessWeights())!, Path.Combine(results, "model"));
            Assert.True(difference <= 1e-5, $"weights differ from one process by {difference:E2} relative");
        }
        finally
        {
            lwf.Run("cluster", "down");
        }
        Assert.Empty(Directory.GetFiles(Path.Combine(lwf.Home, "membership")));
    }

    [SkippableFact]
    public void Killing_the_trainers_silo_mid_job_resumes_from_its_last_checkpoint_on_another_silo()
    {
        // Redis clustering: with localhost clustering the first silo holds the membership table and may not die.
        string? redis = Environment.GetEnvironmentVariable("LWF_REDIS");
        Skip.If(string.IsNullOrEmpty(redis), "LWF_REDIS is not set (host:port of a redis-server; .ci/run starts one)");
        // The tiny job, longer, so that the kill lands between checkpoints (every 4 steps) well before the end.
        string job = Path.Combine(Lwf.RepoRoot, "cluster", "jobs", $".resume-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(job, File.ReadAllText(TinyJob).Replace("steps: 12", "steps: 30"));
        var lwf = InRepo(); // the tiny job's float64 sums: one process's weights
        try
        {
            lwf.Ok("cluster", "up", "--silos", "3", "--clustering", "redis", "--redis", redis!);
            string id = lwf.Ok("submit", "--on-cluster", job).Trim().Split('\n')[^1];
            var deadline = DateTime.UtcNow.AddMinutes(8); // CI runs the three test assemblies at once on two cores
            string status = "";
            while (DateTime.UtcNow < deadline && !(status = lwf.Ok("status", id)).Contains("checkpoint 8")) Thread.Sleep(200);
            Assert.Contains("checkpoint 8", status);
            Assert.DoesNotContain("checkpoint 28", status);
            int trainerPort = TrainerPort(lwf, id);
            var victim = lwf.Silos().Single(s => s.SiloPort == trainerPort);
            Process.GetProcessById(victim.Pid).Kill();

            var (code, stdout, stderr) = lwf.Run("watch", id);
            // (whether watch saw the trainer unreachable depends on how fast the job resumed); control characters out, or xunit shows no message
            Assert.True(code == 0, $"lwf watch exited {code}:\n" + System.Text.RegularExpressions.Regex.Replace(stdout + stderr, @"[\x00-\x08\x0B-\x1F\x7F]", "?"));
            Assert.NotEqual(victim.SiloPort, TrainerPort(lwf, id)); // another silo finished it
            string results = Lwf.NewTempDir();
            lwf.Ok("results", id, "--out", results);
            string report = File.ReadAllText(Path.Combine(results, "report.json"));
            // From the replicas on the other silos (the trainer's live state matched them), or, when the kill caught a step
            // applied but not yet recorded, from a checkpoint: either way the weights of one uninterrupted process.
            Assert.Matches(@"resumed from (the surviving replicas at learning step \d+|[^""]*checkpoint-(8|12|16|20|24|28) \(learning step)", report);
            string single = Lwf.NewTempDir();
            new Lwf(Lwf.NewTempDir()).Ok("train", job, "--out", single);
            Assert.Equal(File.ReadAllBytes(Path.Combine(single, "model", "model.safetensors")),
                File.ReadAllBytes(Path.Combine(results, "model", "model.safetensors")));
        }
        finally
        {
            lwf.Run("cluster", "down");
            File.Delete(job);
        }
    }

    [Fact]
    public void In_localhost_mode_every_listener_of_a_silo_is_on_loopback()
    {
        var lwf = InRepo();
        lwf.Ok("cluster", "up", "--silos", "2");
        try
        {
            var pids = lwf.Silos().Select(s => s.Pid).ToHashSet();
            var ss = Process.Start(new ProcessStartInfo("ss", "-H -ltnp") { RedirectStandardOutput = true, UseShellExecute = false })!;
            string listing = ss.StandardOutput.ReadToEnd();
            ss.WaitForExit();
            // Each listening socket of a silo process: silo port, gateway, data plane, metrics. ss prints the local address in column 4.
            var mine = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Where(line => pids.Any(pid => line.Contains($"pid={pid},"))).ToList();
            Assert.True(mine.Count >= 4 * pids.Count, $"expected every silo's four listeners in:\n{listing}");
            foreach (var line in mine)
            {
                string local = line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3];
                Assert.True(local.StartsWith("127.0.0.1:", StringComparison.Ordinal) || local.StartsWith("[::1]:", StringComparison.Ordinal),
                    $"a silo listens beyond loopback: {line}");
            }
        }
        finally
        {
            lwf.Run("cluster", "down");
        }
    }

    /// <summary>An Orleans client built here, as an attacker would, with the client certificate `lwf cluster up` made for its console.</summary>
    private static async Task<IHost> OwnClient(string home)
    {
        using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(home, "cluster.json")));
        string clusterId = state.RootElement.GetProperty("ClusterId").GetString()!;
        int gateway = state.RootElement.GetProperty("Silos")[0].GetProperty("GatewayPort").GetInt32();
        var certificates = ClusterCertificates.Load(Path.Combine(home, "tls", ClusterCertificates.ClientFolder), ClusterRole.Client);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering(new IPEndPoint(IPAddress.Loopback, gateway));
            client.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = "lwf"; });
            client.UseClusterTls(certificates);
        });
        var host = builder.Build();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await host.StartAsync(limit.Token);
        return host;
    }

    [Fact]
    public async Task Cluster_up_makes_its_own_authority_and_a_client_without_its_certificate_is_refused_in_one_line()
    {
        var lwf = InRepo();
        lwf.Ok("cluster", "up", "--silos", "1");
        try
        {
            foreach (string role in new[] { "silo", "client" })
                foreach (string file in new[] { "ca.crt", "tls.crt", "tls.key" })
                    if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(lwf.Home, "tls", role, file)));
            lwf.Ok("status"); // the cluster's own client certificate: in

            // A program of the attacker's own making that holds the cluster's client certificate (what any user's laptop
            // holds) gets in, but to the client API only: not to a running job's shard or coordinator.
            string victim = lwf.Ok("submit", "--on-cluster", TinyJob).Trim().Split('\n')[^1];
            using (var attacker = await OwnClient(lwf.Home))
            {
                var client = attacker.Services.GetRequiredService<IClusterClient>();
                Assert.Contains(victim, await client.GetGrain<IJobDirectoryGrain>(0).List());
                var prepare = await Assert.ThrowsAnyAsync<Exception>(async () =>
                    await client.GetGrain<IShardGrain>($"{victim}/0").Prepare(new ShardSetup(TinyJob, 0, 2, Lwf.NewTempDir(), null)));
                Assert.Equal("IShardGrain.Prepare is not part of the client API: only the cluster's silos call it", prepare.Message);
                var step = await Assert.ThrowsAnyAsync<Exception>(async () => await client.GetGrain<ICoordinatorGrain>(victim).LearningStep([0], [], false));
                Assert.Equal("ICoordinatorGrain.LearningStep is not part of the client API: only the cluster's silos call it", step.Message);
                await attacker.StopAsync(TimeSpan.FromSeconds(5));
            }
            var (victimCode, victimOut, victimErr) = lwf.Run("watch", victim);
            Assert.True(victimCode == 0, victimOut + victimErr);
            Assert.Contains($"{victim}: done", lwf.Ok("status", victim));

            // Plain TCP, and another authority's certificate (made by `lwf cluster certs`): one error line, exit 2.
            string foreign = Path.Combine(Lwf.NewTempDir(), "foreign");
            Assert.Contains("wrote", lwf.Ok("cluster", "certs", "--out", foreign));
            var twice = lwf.Run("cluster", "certs", "--out", foreign);
            Assert.Equal(2, twice.ExitCode);
            Assert.Contains($"already holds {Path.Combine(foreign, "silo", "ca.crt")}", twice.Stderr);
            foreach (var (key, value) in new[] { ("Cluster__Tls", "off"), ("Cluster__TlsDirectory", Path.Combine(foreign, "client")) })
            {
                var stranger = new Lwf(lwf.Home);
                stranger.Env[key] = value;
                var (code, stdout, stderr) = stranger.Run("status");
                Assert.True(code == 2, $"{key}={value}: exit {code}\n{stdout}\n{stderr}");
                var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.True(lines.Length == 1 && lines[0].StartsWith("error: could not reach the cluster", StringComparison.Ordinal), $"{key}={value}:\n{stderr}");
            }
            Assert.All(lwf.Silos(), s => Assert.False(Process.GetProcessById(s.Pid).HasExited));
        }
        finally
        {
            lwf.Run("cluster", "down");
        }
    }

    [Fact]
    public void The_data_plane_gives_a_stranger_no_byte_and_two_thousand_idle_connections_do_not_keep_a_job_out()
    {
        var lwf = InRepo();
        lwf.Ok("cluster", "up", "--silos", "2");
        var idle = new List<Socket>();
        try
        {
            var ports = DataPlanePorts(lwf);
            Assert.Equal(2, ports.Count);
            // A stranger that connects and says nothing: not one byte back, and closed within the read timeout (30 s).
            using (var stranger = new Socket(SocketType.Stream, ProtocolType.Tcp))
            {
                stranger.Connect(IPAddress.Loopback, ports[0]);
                stranger.ReceiveTimeout = 90_000;
                var clock = Stopwatch.StartNew();
                Assert.Equal(0, stranger.Receive(new byte[64])); // an orderly close with no data
                Assert.InRange(clock.Elapsed.TotalSeconds, 25, 60);
            }
            // 2,000 idle connections, 1,000 on each silo's data plane (whose cap is 256), then a job: the ring's peers
            // connect while the idle ones are still open, and must get in.
            foreach (int port in ports)
                for (int i = 0; i < 1000; i++)
                {
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    socket.Connect(IPAddress.Loopback, port);
                    idle.Add(socket);
                }
            string id = lwf.Ok("submit", "--on-cluster", TinyJob).Trim().Split('\n')[^1];
            var (code, stdout, stderr) = lwf.Run("watch", id);
            Assert.True(code == 0, stdout + stderr);
            Assert.Contains($"{id}: done", lwf.Ok("status", id));
            Assert.All(lwf.Silos(), s => Assert.True(Process.GetProcessById(s.Pid) is { HasExited: false }));
            string logs = string.Concat(Directory.GetFiles(lwf.Home, "silo-*.log").Select(File.ReadAllText));
            Assert.Contains("closed the one that had waited longest without a whole frame header", logs);
            Assert.DoesNotContain("Unhandled exception", logs);
        }
        finally
        {
            foreach (var socket in idle) socket.Dispose();
            lwf.Run("cluster", "down");
        }
    }

    /// <summary>Each silo's data-plane port: the one of its listeners that is not its silo, gateway or HTTP port.</summary>
    private static List<int> DataPlanePorts(Lwf lwf)
    {
        using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(lwf.Home, "cluster.json")));
        var ss = Process.Start(new ProcessStartInfo("ss", "-H -ltnp") { RedirectStandardOutput = true, UseShellExecute = false })!;
        string listing = ss.StandardOutput.ReadToEnd();
        ss.WaitForExit();
        return state.RootElement.GetProperty("Silos").EnumerateArray().Select(silo =>
        {
            var known = new[] { "SiloPort", "GatewayPort", "HttpPort" }.Select(p => silo.GetProperty(p).GetInt32()).ToHashSet();
            int pid = silo.GetProperty("Pid").GetInt32();
            return listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(line => line.Contains($"pid={pid},"))
                .Select(line => int.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3].Split(':')[^1]))
                .Single(port => !known.Contains(port));
        }).ToList();
    }

    [Fact]
    public void Bad_jobs_are_refused_at_submit_and_an_id_runs_once()
    {
        var lwf = InRepo();
        string data = Lwf.RepoRoot; // the data root: the tiny job and what it reads are inside
        lwf.Ok("cluster", "up", "--silos", "1", "--data-root", data);
        try
        {
            string dir = Path.Combine(data, "cluster", "jobs");
            string typo = Path.Combine(dir, $".typo-{Guid.NewGuid():N}.yaml");
            File.WriteAllText(typo, File.ReadAllText(TinyJob).Replace("portion: 0.25", "portoin: 0.25"));
            try
            {
                var (code, _, stderr) = lwf.Run("submit", "--on-cluster", typo);
                Assert.Equal(2, code);
                Assert.Contains("unknown key 'forgetting.portoin' (did you mean 'portion'?)", stderr);
            }
            finally { File.Delete(typo); }

            // Outside the root: a job file (refused before it is read), and a model named by its absolute path.
            string elsewhere = Lwf.NewTempDir();
            string outsideModel = Path.Combine(elsewhere, "models", "gpt2-tiny-bpe");
            Directory.CreateDirectory(outsideModel);
            File.Copy(Path.Combine(data, "examples", "models", "gpt2-tiny-bpe", "config.json"), Path.Combine(outsideModel, "config.json"));
            string licenses = Path.Combine(elsewhere, "jobs", "licenses");
            Directory.CreateDirectory(licenses);
            foreach (string file in Directory.GetFiles(Path.Combine(data, "examples", "jobs", "licenses"), "*.jsonl"))
                File.Copy(file, Path.Combine(licenses, Path.GetFileName(file)));
            string outsideJob = Path.Combine(elsewhere, "job.yaml");
            File.Copy(TinyJob, outsideJob);
            var outside = lwf.Run("submit", "--on-cluster", outsideJob);
            Assert.Equal(2, outside.ExitCode);
            Assert.Contains($"{outsideJob}: job file {outsideJob} is outside the cluster's data root {data}", outside.Stderr);
            string absolute = Path.Combine(dir, $".absolute-{Guid.NewGuid():N}.yaml");
            File.WriteAllText(absolute, File.ReadAllText(TinyJob).Replace("../../examples/models/gpt2-tiny-bpe", outsideModel));
            try
            {
                var (code, _, stderr) = lwf.Run("submit", "--on-cluster", absolute);
                Assert.Equal(2, code);
                Assert.Contains($"model {outsideModel} is outside the cluster's data root {data}", stderr);
                Assert.DoesNotContain("symbolic link", stderr);
            }
            finally { File.Delete(absolute); }

            // A link inside the data root that leads out of it is followed, and refused: cluster/jobs/.elsewhere-* → the folder outside.
            string link = Path.Combine(dir, $".elsewhere-{Guid.NewGuid():N}");
            Directory.CreateSymbolicLink(link, elsewhere);
            string linked = Path.Combine(dir, $".linked-{Guid.NewGuid():N}.yaml");
            File.WriteAllText(linked, File.ReadAllText(TinyJob).Replace("../../examples/", Path.GetFileName(link) + "/"));
            try
            {
                var (code, _, stderr) = lwf.Run("submit", "--on-cluster", linked);
                Assert.Equal(2, code);
                Assert.Contains($"model {Path.Combine(link, "models", "gpt2-tiny-bpe")} is outside the cluster's data root {data} (a symbolic link on the way leads out of it)", stderr);
                Assert.DoesNotContain(elsewhere, stderr); // where the link leads is not told
            }
            finally
            {
                File.Delete(linked);
                Directory.Delete(link);
            }

            string missing = Path.Combine(dir, $".missing-{Guid.NewGuid():N}.yaml");
            File.WriteAllText(missing, File.ReadAllText(TinyJob).Replace("held-out.jsonl", "no-such-file.jsonl"));
            try
            {
                var (code, _, stderr) = lwf.Run("submit", "--on-cluster", missing);
                Assert.Equal(2, code);
                Assert.Contains("no-such-file.jsonl not found", stderr);
            }
            finally { File.Delete(missing); }
            Assert.Contains("no jobs", lwf.Ok("status")); // nothing started
        }
        finally
        {
            lwf.Run("cluster", "down");
        }
    }

    [Fact]
    public void Two_runs_on_one_layout_are_bit_identical_with_float32_on_the_wire()
    {
        // Two `lwf run`s of the tiny job in float32 (DDP's: .grad accumulated by backward, float32 on the wire) on 2
        // embedded silos × 4 shards, each in a fresh process, as a user reruns a job.
        string job = Float32Job(TinyJob);
        try
        {
            string first = Lwf.NewTempDir(), second = Lwf.NewTempDir();
            new Lwf(Lwf.NewTempDir()).Ok("run", job, "--out", first, "--silos", "2", "--shards", "4");
            new Lwf(Lwf.NewTempDir()).Ok("run", job, "--out", second, "--silos", "2", "--shards", "4");
            Assert.Equal(File.ReadAllBytes(Path.Combine(first, "model", "model.safetensors")), File.ReadAllBytes(Path.Combine(second, "model", "model.safetensors")));
            // float32 rounds each addition in the layout's order: close to one process's float64 sums, not equal.
            double difference = global::Lwf.Tests.TestSupport.MaxRelativeDifference(Path.GetDirectoryName(SingleProcessWeights())!, Path.Combine(first, "model"));
            Assert.True(difference <= 1e-2, $"{difference:E2}");
        }
        finally { File.Delete(job); }
    }

    /// <summary>A copy of a job beside it (its paths are relative) with float32 gradient sums, as jobs have by default.</summary>
    private static string Float32Job(string source, Func<string, string>? change = null)
    {
        string job = Path.Combine(Path.GetDirectoryName(source)!, $".float32-{Guid.NewGuid():N}.yaml");
        string text = File.ReadAllText(source).Replace("gradient_precision: float64", "gradient_precision: float32");
        File.WriteAllText(job, change is null ? text : change(text));
        return job;
    }

    /// <summary>The tiny job without forgetting, in float32: every byte a silo sends is a learning step's all-reduce.</summary>
    private static string PlainJob() => Float32Job(TinyJob, text => text.Replace("arrange: interleave", "arrange: none"));

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Each_silo_sends_the_ring_all_reduces_bytes_per_learning_step_and_no_more(int silos)
    {
        var lwf = InRepo();
        string job = PlainJob();
        try
        {
            lwf.Ok("cluster", "up", "--silos", silos.ToString());
            string id = lwf.Ok("submit", "--on-cluster", job).Trim().Split('\n')[^1];
            var (code, stdout, stderr) = lwf.Run("watch", id);
            Assert.True(code == 0, stdout + stderr);
            string results = Lwf.NewTempDir();
            lwf.Ok("results", id, "--out", results);
            using var report = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(results, "report.json")));
            long parameters = report.RootElement.GetProperty("parameters").GetInt64();
            int steps = report.RootElement.GetProperty("learningSteps").GetInt32();
            Assert.Equal(0, report.RootElement.GetProperty("forgettingRecords").GetInt32());
            // Ring all-reduce: 2(S−1)/S of the float32 gradient per silo per step (nccl-tests' bus factor).
            double ring = 2.0 * (silos - 1) / silos * parameters * 4;
            using var http = new HttpClient();
            foreach (string target in PrometheusTargets(lwf))
            {
                string text = await http.GetStringAsync($"http://{target}/metrics");
                var sent = System.Text.RegularExpressions.Regex.Match(text, @"(?m)^lwf_dataplane_bytes[a-z_]*\{[^}]*direction=""sent""[^}]*\} (\S+)");
                Assert.True(sent.Success, $"{target}: no lwf_dataplane_bytes{{direction=\"sent\"}} in\n{text}");
                double perStep = double.Parse(sent.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) / steps;
                Assert.True(perStep <= ring * 1.05 + (1 << 20), $"{target}: {perStep:N0} bytes per step, over the ring's {ring:N0} × 1.05 + 1 MiB");
                Assert.True(perStep >= ring, $"{target}: {perStep:N0} bytes per step, under the ring's {ring:N0}: the gradient did not go round");
            }
        }
        finally
        {
            lwf.Run("cluster", "down");
            File.Delete(job);
        }
    }

    [Fact]
    public void A_silo_process_gives_its_memory_back_after_each_job()
    {
        var lwf = InRepo();
        lwf.Ok("cluster", "up", "--silos", "1");
        try
        {
            int pid = lwf.Silos()[0].Pid;
            var after = new List<long>();
            for (int run = 0; run < 3; run++)
            {
                string id = lwf.Ok("submit", "--on-cluster", TinyJob).Trim().Split('\n')[^1];
                var (code, stdout, stderr) = lwf.Run("watch", id);
                Assert.True(code == 0, stdout + stderr);
                Thread.Sleep(2000); // the shards let go of the replica as the job ends
                after.Add(ResidentBytes(pid));
            }
            Assert.True(after[2] - after[0] <= 300L << 20,
                $"the silo's RSS after jobs 1, 2, 3: {string.Join(", ", after.Select(b => $"{b >> 20} MiB"))}: grew by more than 300 MiB");
        }
        finally
        {
            lwf.Run("cluster", "down");
        }
    }

    private static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:"));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }

    /// <summary>The silo port of the silo whose trainer runs the job, from `lwf status` ("…, trainer on 127.0.0.1:PORT").</summary>
    private static int TrainerPort(Lwf lwf, string id)
    {
        string status = lwf.Ok("status", id);
        var match = System.Text.RegularExpressions.Regex.Match(status, @"trainer on 127\.0\.0\.1:(\d+)\s*$");
        Assert.True(match.Success, status);
        return int.Parse(match.Groups[1].Value);
    }
}
