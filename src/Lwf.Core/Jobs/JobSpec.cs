using Lwf.Core.Forgetting;
using Lwf.Core.Generation;
using Lwf.Core.Training;

namespace Lwf.Core.Jobs;

/// <summary>The datasets of a job (absolute paths). Only learnTrain is always required.</summary>
public sealed record JobData(string LearnTrain, string? LearnEval, string? ForgetPrompts, string? ForgetEval, string? HeldOut);

public sealed record FisherSettings(FisherVariant Variant = FisherVariant.Empirical, int Records = 0);

public sealed record ForgettingSettings
{
    public ForgettingScorer Scorer { get; init; } = ForgettingScorer.Fisher;
    public ForgettingSelection Selection { get; init; } = new(Fraction: 0.5);
    public ForgettingSchedule Schedule { get; init; } = ForgettingSchedule.Periodic;
    public int ForgetEvery { get; init; } = 10;
    public int BatchSize { get; init; } = 8;
    public int RefreshEvery { get; init; }
    public ForgettingStepOptions Step { get; init; } = new();

    /// <summary>Whether any forgetting happens at all (schedule none and α = 0 are plain fine-tuning).</summary>
    public bool Active => Schedule != ForgettingSchedule.None && Step.Alpha != 0;
}

/// <summary>A checkpoint every <c>Every</c> learning steps (0: only at the end) and at the end; the newest <c>Keep</c> stay on disk.</summary>
/// <param name="Save">
/// False: no checkpoint at all, so the run cannot be resumed (a grid's runs: each is short, reruns whole, and its
/// checkpoints were deleted unread).
/// </param>
public sealed record CheckpointSettings(int Every = 100, int Keep = 2, bool Save = true);

/// <param name="Before">
/// Evaluate the model before the first step. A grid runs every variant of a seed from the same base model on the same
/// sets, so one variant's "before" serves them all and the others skip it.
/// </param>
public sealed record EvalSettings(int EvalEvery = 0, int MaxNewTokens = 16, int BatchSize = 16, bool Before = true);

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

    /// <summary>Reads and checks a job file; with a <paramref name="dataRoot"/>, every path it names must lie under it.</summary>
    public static JobSpec Load(string file, DataRoot? dataRoot = null)
    {
        var root = YamlSection.LoadRoot(file, dataRoot);
        string name = root.String("name") ?? Path.GetFileNameWithoutExtension(file);
        string model = root.FilePath("model") ?? throw new LwfInputException($"{file}: missing key 'model' (a Hugging Face model folder)");
        long seed = root.Long("seed") ?? 42;

        var data = root.Section("data");
        var forgetting = root.Section("forgetting");
        var schedule = forgetting.Enum<ForgettingSchedule>("schedule") ?? ForgettingSchedule.Periodic;
        double alpha = forgetting.Double("alpha") ?? 1.0;
        var jobData = new JobData(
            data.FilePath("learnTrain") ?? throw new LwfInputException($"{file}: missing key 'data.learnTrain' (the learning task's training records)"),
            data.FilePath("learnEval"), data.FilePath("forgetPrompts"), data.FilePath("forgetEval"), data.FilePath("heldOut"));
        data.RejectUnknownKeys();

        var train = root.Section("train");
        var defaults = new FineTuneOptions();
        var trainOptions = new FineTuneOptions
        {
            Steps = train.Int("steps") ?? defaults.Steps,
            LearningRate = train.Double("learningRate") ?? defaults.LearningRate,
            WeightDecay = train.Double("weightDecay") ?? defaults.WeightDecay,
            Beta1 = train.Double("beta1") ?? defaults.Beta1,
            Beta2 = train.Double("beta2") ?? defaults.Beta2,
            Epsilon = train.Double("epsilon") ?? defaults.Epsilon,
            WarmupSteps = train.Int("warmupSteps") ?? defaults.WarmupSteps,
            MicroBatchSize = train.Int("microBatchSize") ?? defaults.MicroBatchSize,
            GradientAccumulation = train.Int("gradientAccumulation") ?? defaults.GradientAccumulation,
            MaxGradNorm = train.Double("maxGradNorm") ?? defaults.MaxGradNorm,
            GradientPrecision = train.Enum<GradientPrecision>("gradientPrecision") ?? defaults.GradientPrecision,
            Seed = seed,
        };
        train.RejectUnknownKeys();

        var selfgen = root.Section("selfgen");
        double? temperature = selfgen.Double("temperature"), topP = selfgen.Double("topP");
        int? topK = selfgen.Int("topK");
        bool sampling = temperature is not null || topP is not null || topK is not null;
        var selfgenOptions = new SelfGenerationOptions
        {
            Generation = new GenerationOptions
            {
                MaxNewTokens = selfgen.Int("maxNewTokens") ?? 32,
                Greedy = !sampling,
                Temperature = temperature ?? 1.0,
                TopP = topP ?? 1.0,
                TopK = topK ?? 0,
                Seed = seed,
            },
            SamplesPerPrompt = selfgen.Int("samplesPerPrompt") ?? 1,
            BatchSize = selfgen.Int("batchSize") ?? 16,
        };
        selfgen.RejectUnknownKeys();

        var fisher = root.Section("fisher");
        var fisherSettings = new FisherSettings(fisher.Enum<FisherVariant>("variant") ?? FisherVariant.Empirical, fisher.Int("records") ?? 0);
        fisher.RejectUnknownKeys();

        double? fraction = forgetting.Double("forgetFraction"), threshold = forgetting.Double("forgetThreshold");
        int? topKForget = forgetting.Int("forgetTopK");
        var forgettingSettings = new ForgettingSettings
        {
            Scorer = forgetting.Enum<ForgettingScorer>("scorer") ?? ForgettingScorer.Fisher,
            Selection = fraction is null && topKForget is null && threshold is null
                ? new ForgettingSelection(Fraction: 0.5)
                : new ForgettingSelection(fraction, topKForget, threshold),
            Schedule = schedule,
            ForgetEvery = forgetting.Int("forgetEvery") ?? 10,
            BatchSize = forgetting.Int("batchSize") ?? trainOptions.MicroBatchSize,
            RefreshEvery = forgetting.Int("refreshEvery") ?? 0,
            Step = new ForgettingStepOptions
            {
                Loss = forgetting.Enum<ForgettingLossKind>("loss") ?? ForgettingLossKind.Ga,
                Alpha = alpha,
                LearningRate = forgetting.Double("learningRate") ?? trainOptions.LearningRate,
                MaxGradNorm = trainOptions.MaxGradNorm,
                FisherProtect = forgetting.Double("fisherProtect") ?? 0,
            },
        };
        forgetting.RejectUnknownKeys();

        var eval = root.Section("eval");
        var evalSettings = new EvalSettings(eval.Int("evalEvery") ?? 0, eval.Int("maxNewTokens") ?? 16, eval.Int("batchSize") ?? 16, eval.Bool("before") ?? true);
        eval.RejectUnknownKeys();

        var checkpoint = root.Section("checkpoint");
        var checkpointSettings = new CheckpointSettings(checkpoint.Int("every") ?? 100, checkpoint.Int("keep") ?? 2, checkpoint.Bool("save") ?? true);
        checkpoint.RejectUnknownKeys();

        var spec = new JobSpec
        {
            Name = name, SourcePath = Path.GetFullPath(file), Model = model,
            Device = root.String("device") ?? "cpu", Seed = seed, MaxLength = root.Int("maxLength"),
            SkipBadLines = root.Bool("skipBadLines") ?? false,
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
            Forgetting.Step.Validate();
            SelfGen.Validate(); // a plain job does not self-generate, but a knob out of range is a mistake either way
            if (Forgetting.Active) Forgetting.Selection.Validate();
        }
        catch (LwfInputException e)
        {
            throw new LwfInputException($"{at}: {e.Message}");
        }
        if (Forgetting.Active && Data.ForgetPrompts is null)
            throw new LwfInputException($"{at}: forgetting is on (schedule {Forgetting.Schedule.ToString().ToLowerInvariant()}, alpha {Forgetting.Step.Alpha}) but 'data.forgetPrompts' is missing; set schedule: none for plain fine-tuning");
        if (Forgetting.ForgetEvery < 1) throw new LwfInputException($"{at}: forgetting.forgetEvery must be at least 1, got {Forgetting.ForgetEvery}");
        if (Forgetting.BatchSize < 1) throw new LwfInputException($"{at}: forgetting.batchSize must be at least 1, got {Forgetting.BatchSize}");
        if (Forgetting.RefreshEvery < 0) throw new LwfInputException($"{at}: forgetting.refreshEvery must be ≥ 0, got {Forgetting.RefreshEvery}");
        if (Fisher.Records < 0) throw new LwfInputException($"{at}: fisher.records must be ≥ 0 (0 = all), got {Fisher.Records}");
        if (Eval.EvalEvery < 0) throw new LwfInputException($"{at}: eval.evalEvery must be ≥ 0, got {Eval.EvalEvery}");
        if (Eval.MaxNewTokens is < 1 or > Generation.GenerationOptions.MaxTokensLimit)
            throw new LwfInputException($"{at}: eval.maxNewTokens must be in 1..{Generation.GenerationOptions.MaxTokensLimit}, got {Eval.MaxNewTokens}");
        if (Eval.BatchSize < 1) throw new LwfInputException($"{at}: eval.batchSize must be at least 1, got {Eval.BatchSize}");
        if (Checkpoint.Every < 0) throw new LwfInputException($"{at}: checkpoint.every must be ≥ 0 (0 = only at the end), got {Checkpoint.Every}");
        if (Checkpoint.Keep < 1) throw new LwfInputException($"{at}: checkpoint.keep must be at least 1, got {Checkpoint.Keep}");
        if (MaxLength is < 2) throw new LwfInputException($"{at}: maxLength must be at least 2, got {MaxLength}");
    }
}
