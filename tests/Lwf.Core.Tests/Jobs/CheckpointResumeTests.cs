using Lwf.Core.Checkpoints;
using Lwf.Core.Jobs;

namespace Lwf.Core.Tests.Jobs;

public sealed class CheckpointResumeTests
{
    private const string FullForgetting = "  refresh_every: 4";

    private static string Job(string dir, string forgetting = FullForgetting, string checkpoint = "  save_steps: 3\n  save_total_limit: 2") =>
        JobFiles.Write(dir, forgetting: forgetting, train: checkpoint);

    private static byte[] Weights(string outDir) => File.ReadAllBytes(Path.Combine(outDir, "model", "model.safetensors"));

    /// <summary>Runs the job and stops it (as a crash would) once learning step <paramref name="stopAfter"/> is done.</summary>
    private static void RunUntil(string job, string outDir, int stopAfter)
    {
        using var stop = new CancellationTokenSource();
        var runner = new LwfJobRunner(JobSpec.Load(job), new CancelAfterStep(stopAfter, stop));
        Assert.ThrowsAny<OperationCanceledException>(() => runner.Run(outDir, stop.Token));
    }

    [Theory]
    [InlineData(FullForgetting)]
    [InlineData("  arrange: ahead\n  loss: me")]
    [InlineData("  loss: npo")]
    [InlineData("  arrange: none")]
    public void A_run_resumed_from_a_checkpoint_ends_with_the_weights_and_losses_of_an_uninterrupted_run(string forgetting)
    {
        string dir = TestPaths.NewTempDir();
        string job = Job(dir, forgetting);
        string whole = Path.Combine(dir, "whole");
        var expected = new LwfJobRunner(JobSpec.Load(job)).Run(whole);

        string resumed = Path.Combine(dir, "resumed");
        RunUntil(job, resumed, stopAfter: 5); // checkpoint 3 is the newest; steps 4-5 (with their forgetting records, a refresh, an evaluation) are lost
        Assert.Equal([3], new CheckpointStore(resumed).Steps());
        var report = new LwfJobRunner(JobSpec.Load(job)) { Resume = true }.Run(resumed);

        Assert.Equal(Weights(whole), Weights(resumed));
        Assert.Equal(expected.LearningLoss, report.LearningLoss);
        Assert.Equal(expected.ForgettingLoss, report.ForgettingLoss);
        Assert.Equal(expected.ForgettingRecords, report.ForgettingRecords);
        Assert.Equal(expected.Evaluations.Select(e => (e.Step, e.Phase, string.Join(",", e.Results))),
            report.Evaluations.Select(e => (e.Step, e.Phase, string.Join(",", e.Results))));
        Assert.Contains(report.Notes, n => n.Contains("resumed from") && n.Contains("checkpoint-3"));
        if (expected.Forgetting is not null) Assert.Equal(expected.Forgetting.Scores, report.Forgetting!.Scores);
    }

    [Fact]
    public void An_lwf_checkpoint_holds_one_optimizer_state_and_nothing_of_a_forgetting_optimizer()
    {
        string dir = TestPaths.NewTempDir();
        string outDir = Path.Combine(dir, "out");
        var report = new LwfJobRunner(JobSpec.Load(Job(dir, FullForgetting))).Run(outDir);
        Assert.True(report.ForgettingRecords > 0);
        var files = Directory.EnumerateFiles(Path.Combine(outDir, "checkpoint-8")).Select(Path.GetFileName).Order().ToList();
        // Forgetting records train through the learning AdamW: its state is the only optimizer state on disk.
        Assert.Equal([JobCheckpointState.OptimizerFile], files.Where(f => f!.Contains("optim", StringComparison.OrdinalIgnoreCase)));
        Assert.DoesNotContain("forgetting-optimizer.bin", files);
        Assert.Contains(JobCheckpointState.FisherFile, files);
        Assert.Contains(JobCheckpointState.SamplesFile, files);
        Assert.DoesNotContain("ForgettingStepsTaken", File.ReadAllText(Path.Combine(outDir, "checkpoint-8", JobCheckpointState.StateFile)));
    }

    [Fact]
    public void A_checkpoint_holds_a_manifest_with_checksums_a_loadable_model_and_only_the_newest_are_kept()
    {
        string dir = TestPaths.NewTempDir();
        string outDir = Path.Combine(dir, "out");
        new LwfJobRunner(JobSpec.Load(Job(dir))).Run(outDir);
        var store = new CheckpointStore(outDir);
        Assert.Equal([8, 6], store.Steps()); // every 3 and at the end, keep 2

        var latest = store.Latest(CheckpointStore.Sha256(Path.Combine(dir, "job.yaml")))!;
        Assert.Equal(8, latest.Manifest.Step);
        var files = latest.Manifest.Files.Select(f => f.Path).ToHashSet();
        foreach (var file in new[] { "model.safetensors", "config.json", "generation_config.json", "vocab.json", "merges.txt", "optimizer.bin",
                     "fisher.safetensors", "samples.jsonl", "trainer_state.json", "lwf_state.json", "selfgen.jsonl", "confidence.jsonl" })
            Assert.Contains(file, files);
        foreach (var f in latest.Manifest.Files)
            Assert.Equal(f.Sha256, CheckpointStore.Sha256(latest.File(f.Path)));
        // The final checkpoint's model is the run's model, in the Hugging Face layout: the checkpoint folder is a model folder.
        Assert.Equal(Weights(outDir), File.ReadAllBytes(latest.File("model.safetensors")));
        using var model = PretrainedModel.Load(latest.Directory);
    }

    [Fact]
    public void A_damaged_or_unfinished_checkpoint_is_passed_over_for_the_previous_whole_one()
    {
        string dir = TestPaths.NewTempDir();
        string job = Job(dir, checkpoint: "  save_steps: 2\n  save_total_limit: 4");
        string outDir = Path.Combine(dir, "out");
        new LwfJobRunner(JobSpec.Load(job)).Run(outDir);
        var store = new CheckpointStore(outDir, keep: 4);
        string fingerprint = CheckpointStore.Sha256(job);
        Assert.Equal([8, 6, 4, 2], store.Steps());

        // One flipped byte in the newest model; no manifest in the next (a crash before it was written).
        string weights = Path.Combine(store.PathOf(8), "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        bytes[^1] ^= 0x01;
        File.WriteAllBytes(weights, bytes);
        File.Delete(Path.Combine(store.PathOf(6), CheckpointStore.ManifestFile));

        var rejected = new List<string>();
        var latest = store.Latest(fingerprint, rejected);
        Assert.Equal(4, latest!.Manifest.Step);
        Assert.Collection(rejected,
            r => Assert.Contains("model.safetensors has SHA-256", r),
            r => Assert.Contains("no manifest.json", r));

        // A resumed run goes on from step 4, says which it passed over, and still ends where the whole run did.
        var report = new LwfJobRunner(JobSpec.Load(job)) { Resume = true }.Run(outDir);
        Assert.Contains(report.Notes, n => n.Contains("checkpoint-4"));
        Assert.Contains(report.Notes, n => n.Contains("passed over") && n.Contains("checkpoint-8"));
        string whole = Path.Combine(dir, "whole");
        new LwfJobRunner(JobSpec.Load(job)).Run(whole);
        Assert.Equal(Weights(whole), Weights(outDir));
    }

    [Fact]
    public void A_staging_folder_left_by_a_crash_is_never_taken_for_a_checkpoint_and_is_cleared_by_the_next_save()
    {
        string dir = TestPaths.NewTempDir();
        var store = new CheckpointStore(Path.Combine(dir, "out"));
        Assert.Throws<IOException>(() => store.Save(5, "job", "abc", staging =>
        {
            File.WriteAllText(Path.Combine(staging, "part.bin"), "half");
            throw new IOException("disk full");
        }));
        Assert.Empty(store.Steps());
        Assert.Empty(Directory.EnumerateFileSystemEntries(store.Directory));

        Directory.CreateDirectory(Path.Combine(store.Directory, ".staging-7-deadbeef")); // a process killed mid-write
        Assert.Null(store.Latest("abc"));
        store.Save(7, "job", "abc", staging => File.WriteAllText(Path.Combine(staging, "a.txt"), "whole"));
        Assert.Equal(["checkpoint-7"], Directory.EnumerateFileSystemEntries(store.Directory).Select(Path.GetFileName));
        Assert.Equal(7, store.Latest("abc")!.Manifest.Step);
    }

    [Fact]
    public void Resuming_with_another_job_file_is_refused()
    {
        string dir = TestPaths.NewTempDir();
        string job = Job(dir, forgetting: "  arrange: none");
        string outDir = Path.Combine(dir, "out");
        RunUntil(job, outDir, stopAfter: 4);
        File.AppendAllText(job, "\n# edited\n");
        var error = Assert.Throws<LwfInputException>(() => new LwfJobRunner(JobSpec.Load(job)) { Resume = true }.Run(outDir));
        Assert.Contains("was written by another job file", error.Message);
    }

    [Fact]
    public void A_fresh_run_clears_the_checkpoints_of_an_earlier_run_in_its_output_folder_and_nothing_else()
    {
        string dir = TestPaths.NewTempDir();
        string outDir = Path.Combine(dir, "out");
        string job = Job(dir, forgetting: "  arrange: none", checkpoint: "  save_steps: 2\n  save_total_limit: 10");
        RunUntil(job, outDir, stopAfter: 6);
        // The output folder holds the checkpoint-N folders themselves (the Trainer's layout), so it may hold the user's files too.
        File.WriteAllText(Path.Combine(outDir, "notes.txt"), "mine");
        Directory.CreateDirectory(Path.Combine(outDir, "checkpoint-best"));
        File.WriteAllText(job, File.ReadAllText(job).Replace("save_steps: 2", "save_steps: 0"));
        new LwfJobRunner(JobSpec.Load(job)).Run(outDir);
        Assert.Equal([8], new CheckpointStore(outDir).Steps());
        Assert.Equal("mine", File.ReadAllText(Path.Combine(outDir, "notes.txt")));
        Assert.True(Directory.Exists(Path.Combine(outDir, "checkpoint-best")));
    }

    [Fact]
    public void A_checkpoint_folder_another_tool_wrote_is_never_pruned_cleared_or_overwritten()
    {
        string dir = TestPaths.NewTempDir();
        string outDir = Path.Combine(dir, "out");
        string job = Job(dir, forgetting: "  arrange: none", checkpoint: "  save_steps: 2\n  save_total_limit: 1");
        RunUntil(job, outDir, stopAfter: 4);
        // The Trainer's own checkpoint-1 beside ours: a resumed run prunes down to one of its own and leaves it be.
        string theirs = Path.Combine(outDir, "checkpoint-1");
        Directory.CreateDirectory(theirs);
        File.WriteAllText(Path.Combine(theirs, "config.json"), "{}");
        new LwfJobRunner(JobSpec.Load(job)) { Resume = true }.Run(outDir);
        Assert.Equal([8, 1], new CheckpointStore(outDir).Steps());
        Assert.Equal("{}", File.ReadAllText(Path.Combine(theirs, "config.json")));

        // A fresh run would clear every checkpoint folder (and write checkpoint-2 over another's): refused before anything goes.
        string other = Path.Combine(outDir, "checkpoint-2");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "config.json"), "{}");
        var fresh = Assert.Throws<LwfInputException>(() => new LwfJobRunner(JobSpec.Load(job)).Run(outDir));
        Assert.Contains("checkpoint-1", fresh.Message);
        Assert.Contains("not a checkpoint lwf wrote", fresh.Message);
        Assert.Equal([8, 2, 1], new CheckpointStore(outDir).Steps());
        var save = Assert.Throws<LwfInputException>(() => new CheckpointStore(outDir).Save(2, "job", "abc", d => File.WriteAllText(Path.Combine(d, "a.txt"), "x")));
        Assert.Contains(other, save.Message);
        Assert.Equal("{}", File.ReadAllText(Path.Combine(other, "config.json")));
    }

    [Fact]
    public void Bad_checkpoint_settings_are_refused_with_the_key()
    {
        string dir = TestPaths.NewTempDir();
        var error = Assert.Throws<LwfInputException>(() => JobSpec.Load(Job(dir, checkpoint: "  save_steps: -1")));
        Assert.Contains("train.save_steps", error.Message);
        error = Assert.Throws<LwfInputException>(() => JobSpec.Load(Job(dir, checkpoint: "  save_step: 3")));
        Assert.Contains("unknown key 'train.save_step' (did you mean 'save_steps'?)", error.Message);
    }
}
