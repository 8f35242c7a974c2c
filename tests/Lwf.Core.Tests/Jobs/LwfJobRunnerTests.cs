using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Jobs;
using Lwf.Core.Text;
using Lwf.Core.Training;

namespace Lwf.Core.Tests.Jobs;

public sealed class LwfJobRunnerTests
{
    private static byte[] Weights(string runDir) => File.ReadAllBytes(Path.Combine(runDir, "model", "model.safetensors"));

    private static (string Dir, Lwf.Core.Reports.LwfReport Report) Run(string forgetting)
    {
        string dir = TestPaths.NewTempDir();
        var spec = JobSpec.Load(JobFiles.Write(dir, forgetting: forgetting));
        string outDir = Path.Combine(dir, "out");
        return (outDir, new LwfJobRunner(spec).Run(outDir));
    }

    /// <summary>The tiny model (random init from its config) with each weight tensor changed, saved as a model folder.</summary>
    private static string ChangedModel(string dir, Func<string, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> change)
    {
        string model = Path.Combine(dir, "changed-model");
        Directory.CreateDirectory(model);
        File.Copy(Path.Combine(JobFiles.TinyModel, "config.json"), Path.Combine(model, "config.json"));
        using var lm = PretrainedModel.Load(JobFiles.TinyModel, initSeed: 5);
        using var scope = TorchSharp.torch.NewDisposeScope();
        SafeTensorsFile.Write(Path.Combine(model, "model.safetensors"), lm.named_parameters().Select(p => (p.name, change(p.name, p.parameter.detach()))).ToList());
        return model;
    }

    private static string JobOn(string dir, string model)
    {
        string path = JobFiles.Write(dir, forgetting: "  arrange: none");
        File.WriteAllText(path, File.ReadAllText(path).Replace(JobFiles.TinyModel, model));
        return path;
    }

    [Fact]
    public void A_loss_that_turns_non_finite_fails_the_job_naming_the_step_and_no_model_is_saved()
    {
        // Finite weights, so the model loads; embeddings at 1e37 overflow the first layer norm: the first loss is NaN.
        string dir = TestPaths.NewTempDir();
        string model = ChangedModel(dir, (name, t) => name.EndsWith("wte.weight") ? t * 1e37f : t);
        string outDir = Path.Combine(dir, "out");
        var error = Assert.Throws<LwfTrainingException>(() => new LwfJobRunner(JobSpec.Load(JobOn(dir, model))).Run(outDir));
        Assert.StartsWith("learning step 1: the loss is ", error.Message);
        Assert.Contains("the step was not taken", error.Message);
        Assert.False(Directory.Exists(Path.Combine(outDir, "model")), "a NaN run must leave no model behind");
        Assert.False(File.Exists(Path.Combine(outDir, "report.json")));
    }

    [Fact]
    public void Weights_that_are_not_finite_are_refused_when_the_model_loads()
    {
        string dir = TestPaths.NewTempDir();
        string model = ChangedModel(dir, (name, t) => name.EndsWith("ln_f.weight") ? TorchSharp.torch.full_like(t, float.NaN) : t);
        var error = Assert.Throws<LwfInputException>(() => PretrainedModel.Load(model));
        Assert.Contains("tensor 'transformer.ln_f.weight' holds NaN or infinite values", error.Message);
        Assert.StartsWith(Path.Combine(model, "model.safetensors"), error.Message);
    }

    [Fact]
    public void Lwf_train_without_resume_clears_old_checkpoints_only_once_the_job_has_loaded()
    {
        // A run that cannot start (its data is broken) must not have removed the checkpoints of an earlier run.
        string dir = TestPaths.NewTempDir();
        string path = JobFiles.Write(dir, forgetting: "  arrange: none");
        File.WriteAllText(path, File.ReadAllText(path).Replace("max_steps: 8", "max_steps: 2"));
        string outDir = Path.Combine(dir, "out");
        new LwfJobRunner(JobSpec.Load(path)).Run(outDir);
        var before = Directory.GetFiles(outDir, "*", SearchOption.AllDirectories).Order().ToList();
        Assert.Contains(before, f => f.Contains("checkpoint-2"));
        string broken = Path.Combine(dir, "broken.jsonl");
        File.WriteAllText(broken, "{\"text\": \"a line\"}\nnot json\n");
        File.WriteAllText(path, File.ReadAllText(path).Replace(JobFiles.ExampleData("learn-train.jsonl"), broken));
        Assert.Throws<LwfInputException>(() => new LwfJobRunner(JobSpec.Load(path)).Run(outDir));
        Assert.Equal(before, Directory.GetFiles(outDir, "*", SearchOption.AllDirectories).Order().ToList());
        // And --resume with no whole checkpoint is an error, not a silent start from step 0.
        var error = Assert.Throws<LwfInputException>(() =>
            new LwfJobRunner(JobSpec.Load(JobFiles.Write(TestPaths.NewTempDir()))) { Resume = true, RequireCheckpoint = true }.Run(Path.Combine(dir, "empty")));
        Assert.StartsWith("--resume: no whole checkpoint of this job file in ", error.Message);
    }

    [Fact]
    public void Arrange_none_alpha_zero_and_an_empty_forgetting_set_are_bit_identical_to_plain_fine_tuning()
    {
        var (none, noneReport) = Run("  arrange: none");
        var (alphaZero, alphaZeroReport) = Run("  alpha: 0");
        var (empty, emptyReport) = Run("  forget_threshold: 1.0e+300"); // no sample scores above it: D_U is empty
        var (lwf, lwfReport) = Run("");
        Assert.Equal(0, noneReport.ForgettingRecords);
        Assert.Equal(0, alphaZeroReport.ForgettingRecords);
        Assert.Equal(0, emptyReport.ForgettingRecords);
        Assert.Equal(8, lwfReport.ForgettingRecords); // 8 steps of 4 learning records, one forgetting record after every 4
        Assert.Equal(Enumerable.Range(1, 8), lwfReport.ForgettingLoss.Select(p => p.Step));

        // Plain fine-tuning, outside the runner, with the same seed and options.
        string job = JobFiles.Write(TestPaths.NewTempDir());
        var spec = JobSpec.Load(job);
        using var model = PretrainedModel.Load(spec.Model, initSeed: spec.Seed);
        var encoder = new RecordEncoder(TextTokenizer.Load(spec.Model, model.Config), model.Config, spec.MaxLength);
        using (var tuner = new FineTuner(model, spec.Train, model.Config.EosTokenIds[0]))
            foreach (var _ in tuner.Train(JsonlDataset.Load(spec.Data.LearnTrain, encoder).Records)) { }
        string plain = Path.Combine(TestPaths.NewTempDir(), "model");
        PretrainedModel.Save(model, plain);

        var expected = File.ReadAllBytes(Path.Combine(plain, "model.safetensors"));
        Assert.Equal(expected, Weights(none));
        Assert.Equal(expected, Weights(alphaZero));
        Assert.Equal(expected, Weights(empty));
        Assert.NotEqual(expected, Weights(lwf));
    }

    [Fact]
    public void Skipping_the_base_evaluation_and_the_checkpoints_trains_the_same_weights()
    {
        var (full, fullReport) = Run("");
        string dir = TestPaths.NewTempDir();
        string job = JobFiles.Write(dir, train: "  save_strategy: \"no\"");
        File.AppendAllText(job, "\n  before: false\n"); // eval is the file's last section
        string outDir = Path.Combine(dir, "out");
        var report = new LwfJobRunner(JobSpec.Load(job)).Run(outDir);

        Assert.NotNull(fullReport.Before);
        Assert.Null(report.Before);
        Assert.Equal(fullReport.Evaluations.Skip(1).Select(e => (e.Step, e.Phase)), report.Evaluations.Select(e => (e.Step, e.Phase)));
        Assert.NotEmpty(Directory.EnumerateDirectories(full, "checkpoint-*"));
        Assert.Empty(Directory.EnumerateDirectories(outDir, "checkpoint-*"));
        Assert.Equal(Weights(full), Weights(outDir));
    }

    [Fact]
    public void Ahead_carries_the_same_number_of_forgetting_records_in_the_first_steps()
    {
        var (_, report) = Run("  arrange: ahead");
        Assert.Equal(8, report.ForgettingRecords);
        Assert.Equal([1, 2], report.ForgettingLoss.Select(p => p.Step)); // a batch of 4 learning records and 4 forgetting records, twice
    }

    [Fact]
    public void Lwf_train_writes_the_model_report_and_plots()
    {
        string dir = TestPaths.NewTempDir();
        string job = JobFiles.Write(dir, forgetting: "  refresh_every: 4\n  scorer: fisher");
        string outDir = Path.Combine(dir, "out");
        var (code, stdout, stderr) = TestPaths.RunLwf("train", job, "--out", outDir);
        Assert.True(code == 0, stdout + stderr);
        foreach (var file in new[] { "report.json", "report.md", "loss-curves.png", "confidence-histogram.png", "selfgen.jsonl", "confidence.jsonl", "model/model.safetensors", "model/config.json" })
            Assert.True(File.Exists(Path.Combine(outDir, file)), file);
        foreach (var png in new[] { "loss-curves.png", "confidence-histogram.png" })
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(outDir, png))[..4]);
        string markdown = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("| learn (40) | accuracy ↑ |", markdown);
        Assert.Contains("| forget (40) | accuracy ↓ |", markdown);
        Assert.Contains("| held-out (40) | perplexity ↓ |", markdown);
        Assert.Contains("| set | metric | before | after | change |", stdout);
        using var reloaded = PretrainedModel.Load(Path.Combine(outDir, "model"));
        var report = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")))!;
        Assert.Equal(8, report["forgettingRecords"]!.GetValue<int>()); // 8 steps of 4 learning records, one forgetting record after every 4
        var phases = report["evaluations"]!.AsArray().Select(e => (e!["step"]!.GetValue<int>(), e["phase"]!.GetValue<string>()));
        Assert.Equal([(0, "before"), (4, "during"), (8, "after")], phases); // eval_steps 4 of 8 steps
        // The tiny model's config asks for random weights by name: the report says so, in its notes and its markdown.
        Assert.Contains(report["notes"]!.AsArray(), n => n!.GetValue<string>().StartsWith("the model started from random weights (seed 5)", StringComparison.Ordinal));
        Assert.Contains("Note: the model started from random weights (seed 5)", markdown);
    }
}
