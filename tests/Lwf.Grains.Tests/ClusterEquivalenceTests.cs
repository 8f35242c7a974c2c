using System.Text.Json.Nodes;
using Lwf.Abstractions;
using Lwf.Core.Jobs;
using Lwf.Silo;
using Microsoft.Extensions.DependencyInjection;

namespace Lwf.Grains.Tests;

/// <summary>The cluster computes what one process computes: same samples, Fisher-based scores and weights.</summary>
public sealed class ClusterEquivalenceTests
{
    private static readonly string TinyJob = Repo.Path("cluster", "jobs", "tiny-lwf.yaml");

    internal static async Task<JobStatus> RunOnCluster(LocalCluster cluster, string jobId, string jobFile, string outDir)
    {
        var trainer = cluster.Client.GetGrain<ITrainerGrain>(jobId);
        var status = await trainer.Submit(new JobRequest(jobFile));
        Assert.NotEqual(JobPhase.Failed, status.Phase);
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (!status.Phase.IsFinal() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            status = await trainer.GetStatus();
        }
        Assert.True(status.Phase == JobPhase.Done, $"{status.Phase}: {status.Message}");
        foreach (var file in await trainer.ListResults())
        {
            string target = Path.Combine(outDir, file.RelativePath);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await File.WriteAllBytesAsync(target, await trainer.GetResultChunk(file.RelativePath, 0, (int)file.Length));
        }
        return status;
    }

    private static double[] Confidences(string dir) =>
        File.ReadAllLines(Path.Combine(dir, "confidence.jsonl")).Select(l => JsonNode.Parse(l)!["forget_confidence"]!.GetValue<double>()).ToArray();

    [Fact]
    public async Task Tiny_lwf_on_3_silos_and_6_shards_ends_with_the_weights_of_one_process()
    {
        string single = OneProcessRuns.Of(TinyJob).Dir;

        string checkpoints = Repo.NewTempDir(), distributed = Repo.NewTempDir();
        await using (var cluster = await LocalCluster.StartAsync(3, checkpoints, settings: new Dictionary<string, string?> { ["Lwf:ShardsPerJob"] = "6", ["Lwf:ReplicaCheckEvery"] = "1" }))
        {
            var status = await RunOnCluster(cluster, "tiny-3x6", TinyJob, distributed);
            Assert.Equal(3, status.ShardsPerSilo.Count);              // shards spread over every silo
            Assert.All(status.ShardsPerSilo.Values, n => Assert.Equal(2, n));
        }

        // Same self-generated samples (token for token), same scores, same weights.
        Assert.Equal(File.ReadAllText(Path.Combine(single, "selfgen.jsonl")), File.ReadAllText(Path.Combine(distributed, "selfgen.jsonl")));
        var a = Confidences(single);
        var b = Confidences(distributed);
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5 * Math.Abs(a[i]), $"FC[{i}]: {a[i]} vs {b[i]}");
        double difference = Lwf.Tests.TestSupport.MaxRelativeDifference(Path.Combine(single, "model"), Path.Combine(distributed, "model"));
        Assert.True(difference <= 1e-5, $"weights differ by {difference:E2} relative");
    }

    [Fact]
    public async Task One_silo_with_one_shard_is_bit_identical_to_one_process()
    {
        string single = OneProcessRuns.Of(TinyJob).Dir;
        string checkpoints = Repo.NewTempDir(), distributed = Repo.NewTempDir();
        await using (var cluster = await LocalCluster.StartAsync(1, checkpoints, settings: new Dictionary<string, string?> { ["Lwf:ShardsPerJob"] = "1", ["Lwf:DataPlanePort"] = "0" }))
            await RunOnCluster(cluster, "tiny-1x1", TinyJob, distributed);
        Assert.Equal(File.ReadAllBytes(Path.Combine(single, "model", "model.safetensors")),
            File.ReadAllBytes(Path.Combine(distributed, "model", "model.safetensors")));
    }

    /// <summary>
    /// bf16 mixed precision on the cluster: every step's replica check (float32 masters hashed on every silo) passes,
    /// with float32 gradients on the ring as with float64 sums; with float64 sums of one-record micro-batches the
    /// result is the one-process bf16 run's, byte for byte, and not the float32 run's.
    /// </summary>
    [Fact]
    public async Task A_bf16_job_on_2_silos_keeps_equal_float32_masters_and_ends_with_the_weights_of_one_process()
    {
        string dir = Repo.NewTempDir(), job = System.IO.Path.Combine(dir, "tiny-bf16.yaml");
        // 4 of the tiny job's 12 steps (a checkpoint at step 4, an evaluation at the end), 24 of its 104 forgetting
        // prompts, shorter generations, no base evaluation: bf16 on a CPU without bf16 instructions (this machine's) is
        // slow, its self-generation, scoring and evaluations were most of the three runs, and whether the layouts agree
        // bit for bit shows from the first step on.
        string prompts = System.IO.Path.Combine(dir, "forget-prompts-24.jsonl");
        File.WriteAllLines(prompts, File.ReadLines(Repo.Path("examples", "jobs", "licenses", "forget-prompts.jsonl")).Take(24));
        File.WriteAllText(job, File.ReadAllText(TinyJob).Replace("../../examples/jobs/licenses/forget-prompts.jsonl", prompts)
            .Replace("../../", Repo.Root + "/").Replace("\ntrain:\n", "\ntrain:\n  bf16: true\n")
            .Replace("max_steps: 12", "max_steps: 4").Replace("eval_steps: 6", "eval_steps: 4")
            .Replace("\nselfgen:\n  max_new_tokens: 8", "\nselfgen:\n  max_new_tokens: 3").Replace("\nfisher:\n  records: 32", "\nfisher:\n  records: 8")
            .Replace("\neval:\n  max_new_tokens: 6", "\neval:\n  before: false\n  max_new_tokens: 2"));
        var spec = JobSpec.Load(job);
        Assert.True(spec.Train.Bf16);
        Assert.Equal(prompts, spec.Data.ForgetPrompts);
        Assert.Equal((3, 8, false), (spec.SelfGen.Generation.MaxNewTokens, spec.Fisher.Records, spec.Eval.Before));
        string single = Repo.NewTempDir();
        new LwfJobRunner(spec).Run(single);

        string checkpoints = Repo.NewTempDir(), distributed = Repo.NewTempDir();
        string float32Sums = System.IO.Path.Combine(dir, "tiny-bf16-float32-sums.yaml");
        File.WriteAllText(float32Sums, File.ReadAllText(job).Replace("gradient_precision: float64", "gradient_precision: float32"));
        await using (var cluster = await LocalCluster.StartAsync(2, checkpoints, settings: new Dictionary<string, string?> { ["Lwf:ShardsPerJob"] = "2", ["Lwf:ReplicaCheckEvery"] = "1" }))
        {
            await RunOnCluster(cluster, "tiny-bf16", job, distributed);
            await RunOnCluster(cluster, "tiny-bf16-float32-sums", float32Sums, Repo.NewTempDir());
        }
        Assert.Equal(File.ReadAllText(System.IO.Path.Combine(single, "selfgen.jsonl")), File.ReadAllText(System.IO.Path.Combine(distributed, "selfgen.jsonl")));
        Assert.Equal(File.ReadAllBytes(System.IO.Path.Combine(single, "model", "model.safetensors")),
            File.ReadAllBytes(System.IO.Path.Combine(distributed, "model", "model.safetensors")));
        using var weights = Lwf.Core.Checkpoints.SafeTensorsFile.Open(System.IO.Path.Combine(distributed, "model", "model.safetensors"));
        Assert.All(weights.Entries.Values, e => Assert.Equal("F32", e.DType));
        string float32 = OneProcessRuns.Of(TinyJob).Dir;
        Assert.NotEqual(File.ReadAllBytes(System.IO.Path.Combine(float32, "model", "model.safetensors")),
            File.ReadAllBytes(System.IO.Path.Combine(distributed, "model", "model.safetensors")));
    }

    [Fact]
    public async Task Replicas_whose_weights_were_made_to_differ_fail_the_job_naming_the_step_and_the_replicas()
    {
        string checkpoints = Repo.NewTempDir();
        await using var cluster = await LocalCluster.StartAsync(2, checkpoints,
            settings: new Dictionary<string, string?> { ["Lwf:ShardsPerJob"] = "2", ["Lwf:ReplicaCheckEvery"] = "2" });
        var trainer = cluster.Client.GetGrain<ITrainerGrain>("tiny-diverge");
        var status = await trainer.Submit(new JobRequest(TinyJob));
        // As soon as the second silo's replica exists, one of its weights is nudged: a silent divergence to catch.
        var replicas = cluster.Silos[1].Services.GetRequiredService<Lwf.Grains.Replicas.ModelReplicas>();
        var deadline = DateTime.UtcNow.AddMinutes(3);
        Lwf.Grains.Replicas.SiloReplica? replica = null;
        while ((replica = replicas.Find("tiny-diverge")) is null && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.NotNull(replica);
        await replica.OnTorchAsync(r =>
        {
            using var _ = TorchSharp.torch.no_grad();
            r.Model.parameters().First().add_(1e-3f);
            return 0;
        });
        while (!status.Phase.IsFinal() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            status = await trainer.GetStatus();
        }
        Assert.Equal(JobPhase.Failed, status.Phase);
        Assert.Matches(@"after learning step \d+ the replicas' weights differ: rank 0 on S[^ ]+ has [0-9a-f]{16}, rank 1 on S[^ ]+ has [0-9a-f]{16}", status.Message);
    }
}
