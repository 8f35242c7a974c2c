using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;
using Lwf.Core.Forgetting;
using Lwf.Core.Generation;
using Lwf.Core.Jobs;
using Lwf.Core.Models;
using Lwf.Core.Text;
using Lwf.Core.Training;

namespace Lwf.Core.Tests.Jobs;

/// <summary>Job files in transformers' TrainingArguments names; checkpoints and saved models in the Trainer's layout.</summary>
public sealed class HuggingFaceNamesTests
{
    private static string TinyJob => Path.Combine(TestPaths.RepoRoot, "cluster", "jobs", "tiny-lwf.yaml");

    /// <summary>
    /// What the camelCase loader (before the rename) made of the tiny job, field by field: the same file in
    /// TrainingArguments' names must give the same spec, and so the same run (its weights were byte-equal when both
    /// loaders existed: docs/training.md).
    /// </summary>
    private static JobSpec CamelCaseLoadersSpec(string source)
    {
        string repo = TestPaths.RepoRoot, data = Path.Combine(repo, "examples", "jobs", "licenses");
        var train = new FineTuneOptions
        {
            Steps = 12, LearningRate = 3.0e-3, WarmupSteps = 2, MicroBatchSize = 1, GradientAccumulation = 8,
            GradientPrecision = GradientPrecision.Float64, Seed = 42, Scheduler = LearningRateScheduler.Cosine,
        };
        return new JobSpec
        {
            Name = "tiny-lwf", SourcePath = source, Model = Path.Combine(repo, "examples", "models", "gpt2-tiny-bpe"), Seed = 42, MaxLength = 48,
            Data = new JobData(Path.Combine(data, "learn-train.jsonl"), Path.Combine(data, "learn-eval.jsonl"), Path.Combine(data, "forget-prompts.jsonl"),
                Path.Combine(data, "forget-eval.jsonl"), Path.Combine(data, "held-out.jsonl")),
            Train = train,
            SelfGen = new SelfGenerationOptions { Generation = new GenerationOptions { MaxNewTokens = 8, Greedy = true, Seed = 42 }, BatchSize = 1 },
            Fisher = new FisherSettings(FisherVariant.Empirical, 32),
            Forgetting = new ForgettingSettings
            {
                Scorer = ForgettingScorer.Fisher, Selection = new ForgettingSelection(Fraction: 0.3), Arrange = ForgettingArrangement.Interleave,
                Portion = 0.25, RefreshEvery = 6,
                Loss = new ForgettingLoss { Kind = ForgettingLossKind.Ga, Alpha = 0.5 },
            },
            Eval = new EvalSettings(EvalEvery: 6, MaxNewTokens: 6),
            Checkpoint = new CheckpointSettings(Every: 4, Keep: 2),
        };
    }

    [Fact]
    public void A_job_file_in_TrainingArguments_names_is_the_job_the_old_names_described_and_trains_the_same_weights()
    {
        var loaded = JobSpec.Load(TinyJob);
        var expected = CamelCaseLoadersSpec(Path.GetFullPath(TinyJob));
        Assert.Equal(expected.Train, loaded.Train);
        Assert.Equal(expected.SelfGen, loaded.SelfGen);
        Assert.Equal(expected.Forgetting, loaded.Forgetting);
        Assert.Equal(expected, loaded with { LoggingSteps = expected.LoggingSteps });

        string dir = TestPaths.NewTempDir();
        new LwfJobRunner(loaded).Run(Path.Combine(dir, "loaded"));
        new LwfJobRunner(expected).Run(Path.Combine(dir, "built"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "built", "model", "model.safetensors")),
            File.ReadAllBytes(Path.Combine(dir, "loaded", "model", "model.safetensors")));
    }

    [Fact]
    public void Every_TrainingArguments_name_means_what_it_means_to_the_Trainer()
    {
        string path = JobFiles.Write(TestPaths.NewTempDir(), train: """
              weight_decay: 0.01
              adam_beta1: 0.8
              adam_beta2: 0.99
              adam_epsilon: 1.0e-6
              max_grad_norm: 0.5
              gradient_accumulation_steps: 3
              logging_steps: 5
              save_steps: 7
              save_total_limit: 3
              bf16: false
            """);
        File.WriteAllText(path, File.ReadAllText(path).Replace("lr_scheduler_type: cosine", "lr_scheduler_type: constant_with_warmup"));
        var spec = JobSpec.Load(path);
        Assert.Equal((8, 3.0e-3, 2, 4, 3, 12), (spec.Train.Steps, spec.Train.LearningRate, spec.Train.WarmupSteps,
            spec.Train.MicroBatchSize, spec.Train.GradientAccumulation, spec.Train.GlobalBatchSize));
        Assert.Equal((0.01, 0.8, 0.99, 1.0e-6, 0.5), (spec.Train.WeightDecay, spec.Train.Beta1, spec.Train.Beta2, spec.Train.Epsilon, spec.Train.MaxGradNorm));
        Assert.Equal(LearningRateScheduler.ConstantWithWarmup, spec.Train.Scheduler);
        Assert.Equal((5L, 5), (spec.Seed, spec.LoggingSteps));
        Assert.Equal(new CheckpointSettings(7, 3, true), spec.Checkpoint);
        Assert.Equal(4, spec.Eval.EvalEvery);

        // Unset, each takes the Trainer's default; save_strategy "no" writes no checkpoint.
        var defaults = JobSpec.Load(JobFiles.Write(TestPaths.NewTempDir(), train: "  save_strategy: \"no\""));
        Assert.False(defaults.Checkpoint.Save);
        string bare = JobFiles.Write(TestPaths.NewTempDir());
        File.WriteAllText(bare, File.ReadAllText(bare).Replace("  lr_scheduler_type: cosine\n", ""));
        Assert.Equal(LearningRateScheduler.Linear, JobSpec.Load(bare).Train.Scheduler);
    }

    [Theory]
    // transformers' schedules (optimization.py), warm-up 2 of 10 steps.
    [InlineData(LearningRateScheduler.Linear, new[] { 0.0, 0.5, 1.0, 0.75, 0.5, 0.0 })]
    [InlineData(LearningRateScheduler.Cosine, new[] { 0.0, 0.5, 1.0, 0.8535533905932737, 0.5, 0.0 })]
    [InlineData(LearningRateScheduler.Constant, new[] { 1.0, 1.0, 1.0, 1.0, 1.0, 1.0 })]
    [InlineData(LearningRateScheduler.ConstantWithWarmup, new[] { 0.0, 0.5, 1.0, 1.0, 1.0, 1.0 })]
    public void Each_lr_scheduler_type_follows_its_transformers_formula(LearningRateScheduler scheduler, double[] expected)
    {
        int[] steps = [0, 1, 2, 4, 6, 10];
        Assert.Equal(expected, steps.Select(s => Math.Round(LearningRateSchedule.Multiplier(s, 2, 10, scheduler), 12)).ToArray(),
            (a, b) => Math.Abs(a - b) < 1e-12);
    }

    [Theory]
    [InlineData("learning_rate: 3.0e-3", "learningRate: 3.0e-3", "'train.learningRate' was renamed to 'train.learning_rate'")]
    [InlineData("per_device_train_batch_size: 4", "microBatchSize: 4", "'train.microBatchSize' was renamed to 'train.per_device_train_batch_size'")]
    [InlineData("max_steps: 8", "steps: 8", "'train.steps' was renamed to 'train.max_steps'")]
    [InlineData("max_new_tokens: 6", "maxNewTokens: 6", "'selfgen.maxNewTokens' was renamed to 'selfgen.max_new_tokens'")]
    [InlineData("max_length: 48", "maxLength: 48", "'maxLength' was renamed to 'max_length'")]
    public void An_old_name_is_refused_with_file_line_and_the_name_that_replaced_it(string find, string old, string expected)
    {
        string path = JobFiles.Write(TestPaths.NewTempDir());
        string text = File.ReadAllText(path);
        Assert.Contains(find, text);
        File.WriteAllText(path, text.Replace(find, old));
        int line = File.ReadAllLines(path).ToList().FindIndex(l => l.TrimStart().StartsWith(old, StringComparison.Ordinal)) + 1;
        var error = Assert.Throws<LwfInputException>(() => JobSpec.Load(path));
        Assert.StartsWith($"{path}:{line}:", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_whole_job_file_of_the_old_names_is_refused_at_its_first_old_key_not_with_a_missing_key()
    {
        // cluster/jobs/tiny-lwf.yaml as it was before the rename (its first lines): the seed was a top-level key.
        string path = Path.Combine(TestPaths.NewTempDir(), "job.yaml");
        File.WriteAllText(path, $"""
            name: tiny-lwf
            model: {JobFiles.TinyModel}
            seed: 42
            maxLength: 48
            data:
              learnTrain: {JobFiles.ExampleData("learn-train.jsonl")}
            checkpoint:
              every: 4
            """);
        var error = Assert.Throws<LwfInputException>(() => JobSpec.Load(path));
        Assert.Equal($"{path}:3:1: 'seed' was renamed to 'train.seed' (job files take Hugging Face TrainingArguments' names, snake_case)", error.Message);
    }

    [Fact]
    public void Bf16_is_the_trainers_mixed_precision_switch_and_off_by_default()
    {
        string dir = TestPaths.NewTempDir();
        var on = JobSpec.Load(JobFiles.Write(dir, train: "  bf16: true"));
        Assert.True(on.Train.Bf16);
        Assert.Equal(TorchSharp.torch.ScalarType.BFloat16, on.Train.AutocastDType);
        var off = JobSpec.Load(JobFiles.Write(TestPaths.NewTempDir()));
        Assert.False(off.Train.Bf16);
        Assert.Null(off.Train.AutocastDType);
        string bad = JobFiles.Write(TestPaths.NewTempDir(), train: "  bf16: yes please");
        var error = Assert.Throws<LwfInputException>(() => JobSpec.Load(bad));
        Assert.StartsWith(bad + ":", error.Message);
        Assert.Contains("bf16", error.Message);
    }

    /// <summary>transformers' TrainerState fields and the JSON types they take (trainer_callback.py).</summary>
    private static readonly (string Key, string[] Kinds)[] TrainerStateSchema =
    [
        ("epoch", ["number"]), ("global_step", ["integer"]), ("max_steps", ["integer"]), ("logging_steps", ["integer", "number"]),
        ("eval_steps", ["integer", "number"]), ("save_steps", ["integer", "number"]), ("train_batch_size", ["integer", "null"]),
        ("num_train_epochs", ["integer"]), ("num_input_tokens_seen", ["integer"]), ("total_flos", ["number"]), ("log_history", ["array"]),
        ("best_metric", ["number", "null"]), ("best_global_step", ["integer", "null"]), ("best_model_checkpoint", ["string", "null"]),
        ("is_local_process_zero", ["boolean"]), ("is_world_process_zero", ["boolean"]), ("is_hyper_param_search", ["boolean"]),
        ("trial_name", ["string", "null"]), ("trial_params", ["object", "null"]), ("stateful_callbacks", ["object", "null"]),
    ];

    private static string Kind(JsonNode? node) => node switch
    {
        null => "null",
        JsonArray => "array",
        JsonObject => "object",
        JsonValue v when v.TryGetValue<bool>(out _) => "boolean",
        JsonValue v when v.TryGetValue<string>(out _) => "string",
        JsonValue v when v.ToJsonString().All(c => char.IsDigit(c) || c == '-') => "integer",
        _ => "number",
    };

    private static void AssertTrainerState(JsonObject state)
    {
        foreach (var (key, kinds) in TrainerStateSchema)
        {
            Assert.True(state.ContainsKey(key), $"trainer_state.json lacks '{key}'");
            Assert.True(kinds.Contains(Kind(state[key])) || kinds.Contains("number") && Kind(state[key]) == "integer",
                $"'{key}' is a JSON {Kind(state[key])}, TrainerState takes {string.Join(" or ", kinds)}");
        }
        int previous = -1;
        foreach (var entry in state["log_history"]!.AsArray().Select(e => e!.AsObject()))
        {
            Assert.Equal("integer", Kind(entry["step"]));
            int step = entry["step"]!.GetValue<int>();
            Assert.True(step >= previous, "log_history is in step order");
            previous = step;
            foreach (var (key, value) in entry) Assert.True(Kind(value) is "integer" or "number", $"log_history's '{key}' is a {Kind(value)}");
        }
    }

    [Fact]
    public void Checkpoints_are_model_folders_with_the_Trainers_state_and_every_saved_model_carries_its_tokenizer()
    {
        string dir = TestPaths.NewTempDir();
        string job = JobFiles.Write(dir, forgetting: "  arrange: none", train: "  logging_steps: 2\n  save_steps: 4\n  save_total_limit: 5");
        var spec = JobSpec.Load(job);
        string outDir = Path.Combine(dir, "out");
        var report = new LwfJobRunner(spec).Run(outDir);

        // OUT/checkpoint-4: the model's files at its top, the optimiser beside them, trainer_state.json in the Trainer's schema.
        string checkpoint = Path.Combine(outDir, "checkpoint-4");
        foreach (var file in new[] { "config.json", "model.safetensors", "generation_config.json", "optimizer.bin", "trainer_state.json", "lwf_state.json" })
            Assert.True(File.Exists(Path.Combine(checkpoint, file)), $"checkpoint-4 lacks {file}");
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, "trainer_state.json")))!.AsObject();
        AssertTrainerState(state);
        Assert.Equal((4, 8, 2, 4, 4), (state["global_step"]!.GetValue<int>(), state["max_steps"]!.GetValue<int>(), state["logging_steps"]!.GetValue<int>(),
            state["save_steps"]!.GetValue<int>(), state["train_batch_size"]!.GetValue<int>()));
        var logged = state["log_history"]!.AsArray().Select(e => e!.AsObject()).Where(e => e.ContainsKey("loss")).ToList();
        Assert.Equal([2, 4], logged.Select(e => e["step"]!.GetValue<int>()));
        var losses = report.LearningLoss.ToDictionary(l => l.Step, l => l.Loss);
        Assert.Equal((losses[1] + losses[2]) / 2, logged[0]["loss"]!.GetValue<double>(), 12); // the mean since the last entry
        // The Trainer logs the scheduler's rate after the step's scheduler.step(): at step 4 of 8, 2 warm-up, cosine,
        // 0.5 (1 + cos(π (4 - 2) / (8 - 2))) = 0.75 of the peak.
        Assert.Equal(3.0e-3 * 0.75, logged[1]["learning_rate"]!.GetValue<double>(), 15);

        // OUT/trainer_state.json: the whole run, with the Trainer's summary entry.
        var final = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "trainer_state.json")))!.AsObject();
        AssertTrainerState(final);
        Assert.Equal(8, final["global_step"]!.GetValue<int>());
        var summary = final["log_history"]!.AsArray().Last()!.AsObject();
        Assert.Equal(losses.Values.Average(), summary["train_loss"]!.GetValue<double>(), 12);
        Assert.True(summary["train_runtime"]!.GetValue<double>() > 0);

        // Every saved model folder (the result and each checkpoint) tokenizes as GPT-2 from its own files.
        foreach (var folder in new[] { Path.Combine(outDir, "model"), checkpoint, Path.Combine(outDir, "checkpoint-8") })
        {
            foreach (var file in Gpt2TokenizerFiles.Files) Assert.True(File.Exists(Path.Combine(folder, file)), $"{folder} lacks {file}");
            var tokenizer = TextTokenizer.Load(folder, ModelConfig.Load(folder))!;
            Assert.Equal(Path.Combine(folder, "vocab.json"), tokenizer.Source);
            Assert.Equal([15496, 995], tokenizer.Encode("Hello world"));
            using var reloaded = PretrainedModel.Load(folder);
        }
    }

    [Fact]
    public void The_GPT2_tokenizer_files_give_GPT2s_published_ids_and_agree_with_its_ranks_on_real_text()
    {
        string dir = TestPaths.NewTempDir();
        Gpt2TokenizerFiles.WriteTo(dir);
        var vocab = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "vocab.json")))!.AsObject();
        Assert.Equal(50257, vocab.Count);
        Assert.Equal(50256, vocab["<|endoftext|>"]!.GetValue<int>());
        var merges = File.ReadAllLines(Path.Combine(dir, "merges.txt"));
        Assert.Equal("#version: 0.2", merges[0]);
        Assert.Equal(50000, merges.Length - 1);
        Assert.Equal("Ġ t", merges[1]); // GPT-2's first merge
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer_config.json")))!.AsObject();
        Assert.Equal("GPT2Tokenizer", config["tokenizer_class"]!.GetValue<string>());

        var files = TextTokenizer.Load(dir, ModelConfig.Load(JobFiles.TinyModel))!;
        // The ids the transformers documentation gives for GPT2Tokenizer.
        Assert.Equal([15496, 995], files.Encode("Hello world"));
        Assert.Equal([18435, 995], files.Encode(" Hello world"));
        var builtIn = TextTokenizer.Gpt2();
        string text = File.ReadAllText(JobFiles.ExampleData("learn-train.jsonl")) + File.ReadAllText(JobFiles.ExampleData("held-out.jsonl"));
        Assert.Equal(builtIn.Encode(text), files.Encode(text));
    }
}
