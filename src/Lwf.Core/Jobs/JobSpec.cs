using Lwf.Core.Forgetting;
using Lwf.Core.Generation;
using Lwf.Core.Training;

namespace Lwf.Core.Jobs;

/// <summary>
/// A job file (YAML; JSON accepted): the model, the datasets and every knob, with defaults. Paths are
/// relative to the job file. Unknown keys, wrong types and missing files are refused with file:line:column.
/// </summary>
public sealed record JobSpec
{
    public required string Name { get; init; }
    public required string SourcePath { get; init; }
    public required string Model { get; init; }
    public string Device { get; init; } = "cpu";
    public long Seed { get; init; } = 42;
    public int? MaxLength { get; init; }
    public bool SkipBadLines { get; init; }
    public required JobData Data { get; init; }
    public required FineTuneOptions Train { get; init; }
    public required SelfGenerationOptions SelfGen { get; init; }
    public required FisherSettings Fisher { get; init; }
    public required ForgettingSettings Forgetting { get; init; }
    public required EvalSettings Eval { get; init; }
    public CheckpointSettings Checkpoint { get; init; } = new();

    /// <summary>A <c>log_history</c> entry (trainer_state.json) every this many learning steps, with the mean loss since the last.</summary>
    public int LoggingSteps { get; init; } = 1;

    /// <summary>
    /// The names of earlier job files, each with the name that replaced it: one spelling per knob, and a file written
    /// for the old loader gets an error that says what to write instead.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> RenamedKeys = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["seed"] = "train.seed",
        ["maxLength"] = "max_length",
        ["skipBadLines"] = "skip_bad_lines",
        ["data.learnTrain"] = "data.learn_train",
        ["data.learnEval"] = "data.learn_eval",
        ["data.forgetPrompts"] = "data.forget_prompts",
        ["data.forgetEval"] = "data.forget_eval",
        ["data.heldOut"] = "data.held_out",
        ["train.steps"] = "train.max_steps",
        ["train.learningRate"] = "train.learning_rate",
        ["train.weightDecay"] = "train.weight_decay",
        ["train.beta1"] = "train.adam_beta1",
        ["train.beta2"] = "train.adam_beta2",
        ["train.epsilon"] = "train.adam_epsilon",
        ["train.warmupSteps"] = "train.warmup_steps",
        ["train.microBatchSize"] = "train.per_device_train_batch_size",
        ["train.gradientAccumulation"] = "train.gradient_accumulation_steps",
        ["train.maxGradNorm"] = "train.max_grad_norm",
        ["train.gradientPrecision"] = "train.gradient_precision",
        ["selfgen.maxNewTokens"] = "selfgen.max_new_tokens",
        ["selfgen.topP"] = "selfgen.top_p",
        ["selfgen.topK"] = "selfgen.top_k",
        ["selfgen.samplesPerPrompt"] = "selfgen.samples_per_prompt",
        ["selfgen.batchSize"] = "selfgen.batch_size",
        ["forgetting.forgetFraction"] = "forgetting.forget_fraction",
        ["forgetting.forgetTopK"] = "forgetting.forget_top_k",
        ["forgetting.forgetThreshold"] = "forgetting.forget_threshold",
        ["forgetting.refreshEvery"] = "forgetting.refresh_every",
        ["forgetting.schedule"] = "forgetting.arrange (interleave, ahead or none; periodic is now interleave)",
        ["eval.evalEvery"] = "train.eval_steps",
        ["eval.maxNewTokens"] = "eval.max_new_tokens",
        ["eval.batchSize"] = "eval.batch_size",
        ["checkpoint"] = "train.save_steps, train.save_total_limit and train.save_strategy (for every, keep and save)",
    };

    /// <summary>
    /// Knobs of the separate forgetting optimizer that is gone, each with what took its place: forgetting records are
    /// records of the learning steps, weighted by alpha, through the one AdamW and its schedule.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> RemovedKeys = RemovedForgettingKnobs();

    private static Dictionary<string, string> RemovedForgettingKnobs()
    {
        const string portion = "forgetting records ride in every learning step; set forgetting.portion (forgetting records per learning record, default 0.25)";
        const string batch = "forgetting records are part of the learning batches; forgetting.portion sets how many per learning record";
        const string rate = "forgetting records go through the learning optimizer and its schedule (train.learning_rate); forgetting.alpha is their weight";
        const string protect = "it damped the separate forgetting optimizer's steps, which are gone; forgetting.alpha weighs forgetting records inside the learning steps";
        var removed = new Dictionary<string, string>(StringComparer.Ordinal);
        // Each knob under its snake_case name and the camelCase one of the oldest job files.
        foreach (var (snake, camel, replacedBy) in new[]
        {
            ("forget_every", "forgetEvery", portion), ("batch_size", "batchSize", batch),
            ("learning_rate", "learningRate", rate), ("fisher_protect", "fisherProtect", protect),
        })
        {
            removed[$"forgetting.{snake}"] = replacedBy;
            removed[$"forgetting.{camel}"] = replacedBy;
        }
        return removed;
    }

    /// <summary>Reads and checks a job file; with a <paramref name="dataRoot"/>, every path it names must lie under it.</summary>
    /// <param name="pathsWritten">When given, receives every path key with the text the file gives it (before it is resolved).</param>
    public static JobSpec Load(string file, DataRoot? dataRoot = null, List<(string Key, string Text)>? pathsWritten = null)
    {
        var root = YamlSection.LoadRoot(file, dataRoot, RenamedKeys, pathsWritten, RemovedKeys);
        string name = root.String("name") ?? Path.GetFileNameWithoutExtension(file);
        string model = root.FilePath("model") ?? throw new LwfInputException($"{file}: missing key 'model' (a Hugging Face model folder)");

        var data = root.Section("data");
        var jobData = new JobData(
            data.FilePath(JobData.LearnTrainKey) ?? throw new LwfInputException($"{file}: missing key 'data.{JobData.LearnTrainKey}' (the learning task's training records)"),
            data.FilePath(JobData.LearnEvalKey), data.FilePath(JobData.ForgetPromptsKey), data.FilePath(JobData.ForgetEvalKey), data.FilePath(JobData.HeldOutKey));
        data.RejectUnknownKeys();

        // The training section is transformers' TrainingArguments, by its names and with its meanings.
        var train = root.Section("train");
        var defaults = new FineTuneOptions();
        long seed = train.Long("seed") ?? 42;
        var trainOptions = new FineTuneOptions
        {
            Steps = train.Int("max_steps") ?? defaults.Steps,
            LearningRate = train.Double("learning_rate") ?? defaults.LearningRate,
            WeightDecay = train.Double("weight_decay") ?? defaults.WeightDecay,
            Beta1 = train.Double("adam_beta1") ?? defaults.Beta1,
            Beta2 = train.Double("adam_beta2") ?? defaults.Beta2,
            Epsilon = train.Double("adam_epsilon") ?? defaults.Epsilon,
            WarmupSteps = train.Int("warmup_steps") ?? defaults.WarmupSteps,
            Scheduler = train.Enum<LearningRateScheduler>("lr_scheduler_type") ?? defaults.Scheduler,
            MicroBatchSize = train.Int("per_device_train_batch_size") ?? defaults.MicroBatchSize,
            GradientAccumulation = train.Int("gradient_accumulation_steps") ?? defaults.GradientAccumulation,
            MaxGradNorm = train.Double("max_grad_norm") ?? defaults.MaxGradNorm,
            GradientPrecision = train.Enum<GradientPrecision>("gradient_precision") ?? defaults.GradientPrecision,
            Bf16 = train.Bool("bf16") ?? defaults.Bf16,
            Seed = seed,
        };
        var saveStrategy = train.Enum<SaveStrategy>("save_strategy") ?? SaveStrategy.Steps;
        var checkpointSettings = new CheckpointSettings(train.Int("save_steps") ?? 100, train.Int("save_total_limit") ?? 2, saveStrategy == SaveStrategy.Steps);
        int evalSteps = train.Int("eval_steps") ?? 0;
        int loggingSteps = train.Int("logging_steps") ?? 1;

        var selfgen = root.Section("selfgen");
        double? temperature = selfgen.Double("temperature"), topP = selfgen.Double("top_p");
        int? topK = selfgen.Int("top_k");
        bool sampling = temperature is not null || topP is not null || topK is not null;
        var selfgenOptions = new SelfGenerationOptions
        {
            Generation = new GenerationOptions
            {
                MaxNewTokens = selfgen.Int("max_new_tokens") ?? 32,
                Greedy = !sampling,
                Temperature = temperature ?? 1.0,
                TopP = topP ?? 1.0,
                TopK = topK ?? 0,
                Seed = seed,
            },
            SamplesPerPrompt = selfgen.Int("samples_per_prompt") ?? 1,
            BatchSize = selfgen.Int("batch_size") ?? 16,
        };
        selfgen.RejectUnknownKeys();

        var fisher = root.Section("fisher");
        var fisherSettings = new FisherSettings(fisher.Enum<FisherVariant>("variant") ?? FisherVariant.Empirical, fisher.Int("records") ?? 0);
        fisher.RejectUnknownKeys();

        var forgetting = root.Section("forgetting");
        double? fraction = forgetting.Double("forget_fraction"), threshold = forgetting.Double("forget_threshold");
        int? topKForget = forgetting.Int("forget_top_k");
        var forgettingSettings = new ForgettingSettings
        {
            Scorer = forgetting.Enum<ForgettingScorer>("scorer") ?? ForgettingScorer.Fisher,
            Selection = fraction is null && topKForget is null && threshold is null
                ? new ForgettingSelection(Fraction: 0.5)
                : new ForgettingSelection(fraction, topKForget, threshold),
            Arrange = forgetting.Enum<ForgettingArrangement>("arrange") ?? ForgettingArrangement.Interleave,
            Portion = forgetting.Double("portion") ?? ForgettingSettings.DefaultPortion,
            RefreshEvery = forgetting.Int("refresh_every") ?? 0,
            Loss = new ForgettingLoss
            {
                Kind = forgetting.Enum<ForgettingLossKind>("loss") ?? ForgettingLoss.DefaultKind,
                Alpha = forgetting.Double("alpha") ?? ForgettingLoss.DefaultAlpha,
                NpoBeta = forgetting.Double("npo_beta") ?? ForgettingLoss.DefaultNpoBeta,
            },
        };
        forgetting.RejectUnknownKeys();

        var eval = root.Section("eval");
        var evalSettings = new EvalSettings(evalSteps, eval.Int("max_new_tokens") ?? 16, eval.Int("batch_size") ?? 16, eval.Bool("before") ?? true);
        eval.RejectUnknownKeys();
        train.RejectUnknownKeys();

        var spec = new JobSpec
        {
            Name = name, SourcePath = Path.GetFullPath(file), Model = model,
            Device = root.String("device") ?? "cpu", Seed = seed, MaxLength = root.Int("max_length"),
            SkipBadLines = root.Bool("skip_bad_lines") ?? false, LoggingSteps = loggingSteps,
            Data = jobData, Train = trainOptions, SelfGen = selfgenOptions, Fisher = fisherSettings,
            Forgetting = forgettingSettings, Eval = evalSettings, Checkpoint = checkpointSettings,
        };
        root.RejectUnknownKeys();
        spec.Validate();
        return spec;
    }

    public void Validate()
    {
        string at = SourcePath;
        try
        {
            Train.Validate();
            Forgetting.Loss.Validate();
            SelfGen.Validate(); // a plain job does not self-generate, but a knob out of range is a mistake either way
            if (Forgetting.Active) Forgetting.Selection.Validate();
        }
        catch (LwfInputException e)
        {
            throw new LwfInputException($"{at}: {e.Message}");
        }
        if (Forgetting.Active && Data.ForgetPrompts is null)
            throw new LwfInputException($"{at}: forgetting is on (arrange {SnakeCaseEnum.Name(Forgetting.Arrange.ToString())}, alpha {Forgetting.Loss.Alpha}) but 'data.{JobData.ForgetPromptsKey}' is missing; set arrange: none for plain fine-tuning");
        if (Forgetting.Portion is not (> 0 and <= 1))
            throw new LwfInputException($"{at}: forgetting.portion must be in (0, 1] (forgetting records per learning record), got {Forgetting.Portion}");
        if (Forgetting.RefreshEvery < 0) throw new LwfInputException($"{at}: forgetting.refresh_every must be ≥ 0, got {Forgetting.RefreshEvery}");
        if (Fisher.Records < 0) throw new LwfInputException($"{at}: fisher.records must be ≥ 0 (0 = all), got {Fisher.Records}");
        if (Eval.EvalEvery < 0) throw new LwfInputException($"{at}: train.eval_steps must be ≥ 0 (0 = before and after training only), got {Eval.EvalEvery}");
        if (Eval.MaxNewTokens is < 1 or > Generation.GenerationOptions.MaxTokensLimit)
            throw new LwfInputException($"{at}: eval.max_new_tokens must be in 1..{Generation.GenerationOptions.MaxTokensLimit}, got {Eval.MaxNewTokens}");
        if (Eval.BatchSize < 1) throw new LwfInputException($"{at}: eval.batch_size must be at least 1, got {Eval.BatchSize}");
        if (Checkpoint.Every < 0) throw new LwfInputException($"{at}: train.save_steps must be ≥ 0 (0 = only at the end), got {Checkpoint.Every}");
        if (Checkpoint.Keep < 1) throw new LwfInputException($"{at}: train.save_total_limit must be at least 1, got {Checkpoint.Keep}");
        if (LoggingSteps < 1) throw new LwfInputException($"{at}: train.logging_steps must be at least 1, got {LoggingSteps}");
        if (MaxLength is < 2) throw new LwfInputException($"{at}: max_length must be at least 2, got {MaxLength}");
    }
}
