using System.Text.Json;

namespace Lwf.EndToEnd.Tests;

/// <summary>Real silo processes on loopback (TCP), driven only through the `lwf` client.</summary>
public sealed class MultiProcessClusterTests
{
    [Fact]
    public void A_job_submitted_from_a_folder_the_silos_cannot_read_is_uploaded_runs_and_its_results_come_back()
    {
        string root = Lwf.NewTempDir(), folder = Lwf.NewTempDir();
        string job = TinyJobs.SelfContained(folder);
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
            Assert.Equal(File.ReadAllBytes(TinyJobs.SingleProcessWeights()), File.ReadAllBytes(Path.Combine(results, "model", "model.safetensors")));
            Assert.True(File.Exists(Path.Combine(results, "model", "vocab.json")));
            string log = lwf.Ok("logs", id);
            Assert.Contains(" submitted ", log);
            Assert.Contains("checkpoint 4 written", log);
            Assert.Contains("step 12/12: loss ", log);
            Assert.Matches(@"\d{4}-\d\d-\d\dT[\d:.]+Z done after ", log.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);

            // --wait --json: every stdout line an event (for jq), the job id in the first; the upload's note on stderr.
            // The output's form is what is checked here: the same job cut to 3 steps.
            File.WriteAllText(Path.Combine(folder, "short.yaml"), File.ReadAllText(job).Replace("max_steps: 12", "max_steps: 3"));
            var json = lwf.Run("submit", "short.yaml", "--wait", "--json");
            Assert.True(json.ExitCode == 0, json.Stdout + json.Stderr);
            var events = json.Stdout.Trim().Split('\n').Select(line => JsonDocument.Parse(line).RootElement).ToList();
            Assert.Equal("submitted", events[0].GetProperty("event").GetString());
            string jsonId = events[0].GetProperty("job").GetString()!;
            Assert.NotEqual(id, jsonId);
            Assert.All(events, e => Assert.Equal(jsonId, e.GetProperty("job").GetString()));
            Assert.Equal(("end", "done"), (events[^1].GetProperty("event").GetString(), events[^1].GetProperty("phase").GetString()));
            Assert.Contains("uploaded 7 file(s)", json.Stderr);
            // lwf watch --json of a job submitted without --wait: one event per line, each later than the one before.
            string watched = lwf.Ok("submit", "short.yaml").Trim().Split('\n')[^1];
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
        var lwf = TinyJobs.InRepo(); // the tiny job's float64 sums: one process's weights
        lwf.Ok("cluster", "up", "--silos", "3");
        try
        {
            Assert.Equal(3, lwf.Silos().Select(s => s.Pid).Distinct().Count());
            // The silos run libtorch with the threads the environment asks for (the tests' OMP_NUM_THREADS).
            string threads = $"libtorch threads: {Environment.GetEnvironmentVariable("OMP_NUM_THREADS") ?? "1"}";
            Assert.All(Directory.GetFiles(lwf.Home, "silo-*.log"), log => Assert.Contains(threads, File.ReadAllText(log)));
            // cluster.json may hold a Redis password: readable by its owner only.
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(lwf.Home, "cluster.json")));
            string clusterStatus = lwf.Ok("cluster", "status");
            Assert.Contains("3 active silo(s)", clusterStatus);
            // A table people read: a header, a row per silo with its host:port (not Orleans' internal address) and memory.
            var statusLines = clusterStatus.Split('\n');
            Assert.Matches(@"^SILO\s+HOST:PORT\s+STATE\s+DEVICE\s+JOBS\s+SHARDS\s+MEMORY\s+METRICS$", statusLines[0]);
            Assert.True(statusLines.Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^pid \d+\s+127\.0\.0\.1:\d+\s+active\s+cpu\s+\d+\s+\d+\s+[\d.]+ (KiB|MiB|GiB)\s+http://")) == 3, clusterStatus);
            Assert.DoesNotContain("S127.0.0.1", clusterStatus);
            string id = lwf.Ok("submit", "--on-cluster", TinyJobs.Job).Trim().Split('\n')[^1];
            var (code, stdout, stderr) = lwf.Run("watch", id);
            Assert.True(code == 0, stdout + stderr);
            // Prometheus' file_sd targets (cluster/prometheus/prometheus.yml) name every silo; each serves its LWF
            // metrics, and the trainer's silo (one of them) its optimizer steps.
            var targets = lwf.PrometheusTargets();
            Assert.Equal(3, targets.Count);
            using var http = new HttpClient();
            var scrapes = new List<string>();
            foreach (string target in targets) scrapes.Add(await http.GetStringAsync($"http://{target}/metrics"));
            Assert.All(scrapes, text => Assert.Contains("lwf_jobs{", text));
            Assert.Single(scrapes, text => text.Contains("lwf_optimizer_steps_total{", StringComparison.Ordinal));
            Assert.Contains("| learn (40) | accuracy ↑ |", stdout);
            Assert.Contains($"{id}: done", lwf.Ok("status"));
            // The same id again: no second job; the client is told about the existing one.
            Assert.Contains("submitted", lwf.Ok("submit", "--on-cluster", TinyJobs.Job, "--id", id));
            Assert.Single(lwf.Ok("status").Split('\n'), line => line.StartsWith(id));
            Assert.Contains($"{id}: done", lwf.Ok("status", id));
            // Another job file under that id: refused, not "submitted".
            string other = Path.Combine(Lwf.RepoRoot, "cluster", "jobs", $".other-{Guid.NewGuid():N}.yaml");
            File.WriteAllText(other, File.ReadAllText(TinyJobs.Job));
            try
            {
                var (otherCode, _, otherErr) = lwf.Run("submit", "--on-cluster", other, "--id", id);
                Assert.Equal(2, otherCode);
                Assert.Contains($"job id '{id}' is taken by {TinyJobs.Job}", otherErr);
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
            Assert.Equal(File.ReadAllBytes(TinyJobs.SingleProcessWeights()), File.ReadAllBytes(Path.Combine(results, "model", "model.safetensors")));
            // `lwf jobs` lists it with its disk; `lwf jobs rm` frees that disk, and the job is gone from every listing.
            string jobs = lwf.Ok("jobs");
            Assert.Matches(@"^ID\s+OWNER\s+STATE\s+STEP\s+AGE\s+DISK\n", jobs);
            Assert.Matches($@"(?m)^{id}\s+admin \(operator\)\s+done\s+12/12\s+\d+ (s|min)\s+[\d.]+ (KiB|MiB|GiB)$", jobs);
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
        Assert.Empty(lwf.PrometheusTargets());
    }

    [Fact]
    public void Bad_jobs_are_refused_at_submit_and_an_id_runs_once()
    {
        var lwf = TinyJobs.InRepo();
        string data = Lwf.RepoRoot; // the data root: the tiny job and what it reads are inside
        lwf.Ok("cluster", "up", "--silos", "1", "--data-root", data);
        try
        {
            string dir = Path.Combine(data, "cluster", "jobs");
            string typo = Path.Combine(dir, $".typo-{Guid.NewGuid():N}.yaml");
            File.WriteAllText(typo, File.ReadAllText(TinyJobs.Job).Replace("portion: 0.25", "portoin: 0.25"));
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
            File.Copy(TinyJobs.Job, outsideJob);
            var outside = lwf.Run("submit", "--on-cluster", outsideJob);
            Assert.Equal(2, outside.ExitCode);
            Assert.Contains($"{outsideJob}: job file {outsideJob} is outside the cluster's data root {data}", outside.Stderr);
            string absolute = Path.Combine(dir, $".absolute-{Guid.NewGuid():N}.yaml");
            File.WriteAllText(absolute, File.ReadAllText(TinyJobs.Job).Replace("../../examples/models/gpt2-tiny-bpe", outsideModel));
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
            File.WriteAllText(linked, File.ReadAllText(TinyJobs.Job).Replace("../../examples/", Path.GetFileName(link) + "/"));
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
            File.WriteAllText(missing, File.ReadAllText(TinyJobs.Job).Replace("held-out.jsonl", "no-such-file.jsonl"));
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
        string job = TinyJobs.Float32(TinyJobs.Job);
        try
        {
            string first = Lwf.NewTempDir(), second = Lwf.NewTempDir();
            new Lwf(Lwf.NewTempDir()).Ok("run", job, "--out", first, "--silos", "2", "--shards", "4");
            new Lwf(Lwf.NewTempDir()).Ok("run", job, "--out", second, "--silos", "2", "--shards", "4");
            Assert.Equal(File.ReadAllBytes(Path.Combine(first, "model", "model.safetensors")), File.ReadAllBytes(Path.Combine(second, "model", "model.safetensors")));
            // float32 rounds each addition in the layout's order: close to one process's float64 sums, not equal.
            double difference = global::Lwf.Tests.TestSupport.MaxRelativeDifference(Path.GetDirectoryName(TinyJobs.SingleProcessWeights())!, Path.Combine(first, "model"));
            Assert.True(difference <= 1e-2, $"{difference:E2}");
        }
        finally { File.Delete(job); }
    }
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Each_silo_sends_the_ring_all_reduces_bytes_per_learning_step_and_no_more(int silos)
    {
        var lwf = TinyJobs.InRepo();
        string job = TinyJobs.Plain();
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
            foreach (string target in lwf.PrometheusTargets())
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
        var lwf = TinyJobs.InRepo();
        // Every stage of an LWF job once per job (self-generation, Fisher, scoring, forgetting records in the steps, a
        // checkpoint, an evaluation), without the tiny job's repeats (a base and a mid-job evaluation, a re-scoring):
        // what a job holds and lets go of is the same, for less CPU.
        string job = TinyJobs.Float32(TinyJobs.Job, text => text.Replace("refresh_every: 6", "refresh_every: 0")
            .Replace("eval_steps: 6", "eval_steps: 0").Replace("\neval:\n", "\neval:\n  before: false\n"));
        Assert.Contains("before: false", File.ReadAllText(job));
        lwf.Ok("cluster", "up", "--silos", "1");
        try
        {
            int pid = lwf.Silos()[0].Pid;
            var after = new List<long>();
            for (int run = 0; run < 3; run++)
            {
                string id = lwf.Ok("submit", "--on-cluster", job).Trim().Split('\n')[^1];
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
            File.Delete(job);
        }
    }

    private static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:"));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }
}
