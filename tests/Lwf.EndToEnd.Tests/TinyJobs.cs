namespace Lwf.EndToEnd.Tests;

/// <summary>The tiny job (cluster/jobs/tiny-lwf.yaml) as the cluster tests run it, and the one-process weights they compare with.</summary>
internal static class TinyJobs
{
    public static readonly string Job = Path.Combine(Lwf.RepoRoot, "cluster", "jobs", "tiny-lwf.yaml");

    /// <summary>A console of its own whose commands run in the repository: `cluster up` takes it as the data root, and the tiny job lies in it.</summary>
    public static Lwf InRepo() => new(Lwf.NewTempDir()) { WorkingDirectory = Lwf.RepoRoot };

    // The tiny job's float64 sums make its weights one function of the job: trained once per test run, whichever test asks first.
    private static readonly Lazy<string> Weights = new(() =>
    {
        string dir = Lwf.NewTempDir();
        new Lwf(Lwf.NewTempDir()).Ok("train", Job, "--out", dir);
        return Path.Combine(dir, "model", "model.safetensors");
    });

    /// <summary>The tiny job's model.safetensors from one `lwf train` process: what every layout must end with.</summary>
    public static string SingleProcessWeights() => Weights.Value;

    /// <summary>The tiny job in a folder of its own: its data, its model's config and the job file, named relative to it.</summary>
    public static string SelfContained(string dir)
    {
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        Directory.CreateDirectory(Path.Combine(dir, "model"));
        foreach (var file in Directory.GetFiles(Path.Combine(Lwf.RepoRoot, "examples", "jobs", "licenses"), "*.jsonl"))
            File.Copy(file, Path.Combine(dir, "data", Path.GetFileName(file)));
        File.Copy(Path.Combine(Lwf.RepoRoot, "examples", "models", "gpt2-tiny-bpe", "config.json"), Path.Combine(dir, "model", "config.json"));
        string job = Path.Combine(dir, "job.yaml");
        File.WriteAllText(job, File.ReadAllText(Job).Replace("../../examples/models/gpt2-tiny-bpe", "model").Replace("../../examples/jobs/licenses/", "data/"));
        return job;
    }

    /// <summary>A copy of a job beside it (its paths are relative) with float32 gradient sums, as jobs have by default.</summary>
    public static string Float32(string source, Func<string, string>? change = null)
    {
        string job = Path.Combine(Path.GetDirectoryName(source)!, $".float32-{Guid.NewGuid():N}.yaml");
        string text = File.ReadAllText(source).Replace("gradient_precision: float64", "gradient_precision: float32");
        File.WriteAllText(job, change is null ? text : change(text));
        return job;
    }

    /// <summary>The tiny job without forgetting, in float32: every byte a silo sends is a learning step's all-reduce.</summary>
    public static string Plain() => Float32(Job, text => text.Replace("arrange: interleave", "arrange: none"));

    /// <summary>
    /// Waits until the job's log (job.log in its folder on the checkpoint volume) shows learning step
    /// <paramref name="step"/> done, and returns where its trainer runs ("host:port", from the submit line). A fault test
    /// strikes right after: reading a file takes nothing, where an `lwf status` (a process start) took seconds under CI's
    /// load, and a fault meant for mid-learning landed once after the last step. Step 1 by default: a trainer killed
    /// right after its first step once left replicas a step ahead of a job that started afresh (fixed: the replicas
    /// restart, and the step is recorded before the log shows it).
    /// </summary>
    public static string WaitUntilLearning(string checkpoints, string id, int step = 1)
    {
        string log = Path.Combine(checkpoints, id, "job.log");
        var deadline = DateTime.UtcNow.AddMinutes(4);
        while (true)
        {
            string text = File.Exists(log) ? File.ReadAllText(log) : "";
            var trainer = System.Text.RegularExpressions.Regex.Match(text, @"\(trainer on ([\d.]+:\d+)\)");
            if (trainer.Success && System.Text.RegularExpressions.Regex.Matches(text, @" step (\d+)/\d+: loss").Any(m => int.Parse(m.Groups[1].Value) >= step))
                return trainer.Groups[1].Value;
            Assert.True(DateTime.UtcNow < deadline, $"no learning step {step} in {log} within 4 minutes:\n{text}");
            Thread.Sleep(100);
        }
    }

    /// <summary>The silo port of the silo whose trainer runs the job, from `lwf status` ("…, trainer on 127.0.0.1:PORT").</summary>
    public static int TrainerPort(Lwf lwf, string id)
    {
        string status = lwf.Ok("status", id);
        var match = System.Text.RegularExpressions.Regex.Match(status, @"trainer on 127\.0\.0\.1:(\d+)\s*$");
        Assert.True(match.Success, status);
        return int.Parse(match.Groups[1].Value);
    }
}
