using Lwf.Core.IO;
using Lwf.Core.Data;

namespace Lwf.Core.Tasks;

/// <summary>
/// A learning task and a forgetting task written as an LWF job folder: learn-train.jsonl, learn-eval.jsonl,
/// forget-prompts.jsonl, forget-eval.jsonl, held-out.jsonl (Brown-corpus text neither task uses) and one
/// job file per way of running it (<see cref="Variants"/>): job-vanilla.yaml, job-lwf-fisher.yaml, ...
/// </summary>
public static class TaskPair
{
    /// <summary>The variants whose learning metric is plotted over the steps (the grid's learning curves).</summary>
    public static readonly IReadOnlySet<string> CurveVariants = new HashSet<string> { "vanilla", "lwf-fisher" };

    /// <summary>The ways a pair is run: plain fine-tuning and LWF with each scorer, arrangement or loss (the forgetting section).</summary>
    public static readonly IReadOnlyDictionary<string, string> Variants = new Dictionary<string, string>
    {
        ["vanilla"] = "arrange: none",
        ["lwf-fisher"] = "scorer: fisher",
        ["lwf-random"] = "scorer: random",
        ["lwf-inverse"] = "scorer: inverse",
        ["lwf-likelihood"] = "scorer: likelihood",
        ["lwf-ahead"] = "scorer: fisher\n  arrange: ahead",
        ["lwf-ga"] = "scorer: fisher\n  loss: ga",
        ["lwf-me"] = "scorer: fisher\n  loss: me",
    };

    /// <summary>How the grid labels lwf-fisher at an α other than the one it chose: "lwf-fisher-a0.05" (the dose response).</summary>
    public const string AlphaVariantPrefix = "lwf-fisher-a";

    /// <summary>The forgetting lines of a variant, or null when there is no such variant.</summary>
    public static string? ForgettingLines(string variant, PairJobSettings settings) =>
        Variants.TryGetValue(variant, out var lines) ? lines + $"\n  alpha: {settings.Alpha.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : null;

    /// <summary>
    /// The validation files <see cref="Write"/> adds when <see cref="TaskSizes.Valid"/> is above 0, by the evaluation set
    /// they stand for ("learn", "forget", "held-out"). No job file names them: `lwf experiment` scores a finished run's
    /// model on them to choose the learning rate and α, so that the job's own evaluation sets stay the test split.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> ValidationFiles = new Dictionary<string, string>
    {
        ["learn"] = "learn-valid.jsonl",
        ["forget"] = "forget-valid.jsonl",
        ["held-out"] = "held-out-valid.jsonl",
    };

    /// <summary>
    /// Writes the data files and a job file per variant; returns the folder. <paramref name="tag"/> goes into the job
    /// files' names (job-VARIANT-TAG.yaml), so that one folder holds the jobs of several settings on the same data.
    /// </summary>
    public static string Write(string outDirectory, string dataDirectory, string learn, string forget, string model, TaskSizes sizes, long seed,
        PairJobSettings? settings = null, IEnumerable<string>? variants = null, string? tag = null)
    {
        string dir = WriteData(outDirectory, dataDirectory, learn, forget, sizes, seed);
        WriteJobs(dir, learn, forget, model, seed, settings ?? new PairJobSettings(), variants ?? Variants.Keys, tag);
        return dir;
    }

    /// <summary>The data files of a pair (and its validation files when <see cref="TaskSizes.Valid"/> is above 0); returns the folder.</summary>
    public static string WriteData(string outDirectory, string dataDirectory, string learn, string forget, TaskSizes sizes, long seed)
    {
        // The validation records come out of the evaluation sets' draws, so they share no item with training or the test records.
        var drawn = sizes with { Eval = sizes.Eval + sizes.Valid, HeldOut = sizes.HeldOut + sizes.Valid };
        var learning = TaskBuilders.Get(TaskBuilders.Learning, learn, "learning")(dataDirectory, drawn, seed);
        var forgetting = TaskBuilders.Get(TaskBuilders.Forgetting, forget, "forgetting")(dataDirectory, drawn, seed);
        var heldOut = BrownCorpus.HeldOutText(dataDirectory, drawn.HeldOut, seed);
        var (learnTest, learnValid) = TaskSplits.Carve(learning.Eval, sizes.Valid);
        var (forgetTest, forgetValid) = TaskSplits.Carve(forgetting.Eval, sizes.Valid);
        var (heldOutTest, heldOutValid) = TaskSplits.Carve(heldOut, sizes.Valid);
        string dir = Path.GetFullPath(outDirectory);
        Directory.CreateDirectory(dir);
        JsonlDataset.Write(Path.Combine(dir, "learn-train.jsonl"), learning.Train);
        JsonlDataset.Write(Path.Combine(dir, "learn-eval.jsonl"), learnTest);
        JsonlDataset.Write(Path.Combine(dir, "forget-prompts.jsonl"), forgetting.Prompts);
        JsonlDataset.Write(Path.Combine(dir, "forget-eval.jsonl"), forgetTest);
        JsonlDataset.Write(Path.Combine(dir, "held-out.jsonl"), heldOutTest);
        if (sizes.Valid > 0)
        {
            JsonlDataset.Write(Path.Combine(dir, ValidationFiles["learn"]), learnValid);
            JsonlDataset.Write(Path.Combine(dir, ValidationFiles["forget"]), forgetValid);
            JsonlDataset.Write(Path.Combine(dir, ValidationFiles["held-out"]), heldOutValid);
        }
        return dir;
    }

    /// <summary>
    /// A job file per variant over the data files that <see cref="WriteData"/> put in <paramref name="dir"/>. The model
    /// is named relative to the job file, as every path of a job: `lwf submit` uploads such a job as written.
    /// </summary>
    public static void WriteJobs(string dir, string learn, string forget, string model, long seed, PairJobSettings s, IEnumerable<string> variants, string? tag = null)
    {
        foreach (var variant in variants)
        {
            string forgettingLines = ForgettingLines(variant, s) ?? throw new LwfInputException($"no variant '{variant}' (known: {string.Join(", ", Variants.Keys)})");
            AtomicFile.WriteText(JobFile(dir, variant, tag), string.Create(System.Globalization.CultureInfo.InvariantCulture, $"""
                # Learn {learn} while forgetting {forget}: {variant}.
                # Written by `lwf data build --learn {learn} --forget {forget} --seed {seed}` or `lwf experiment`; data from `lwf data fetch`.
                name: {learn}-vs-{forget}-{variant}
                model: {Path.GetRelativePath(Path.GetFullPath(dir), Path.GetFullPath(model))}
                device: {s.Device}
                max_length: {s.MaxLength}

                data:
                  learn_train: learn-train.jsonl
                  learn_eval: learn-eval.jsonl
                  forget_prompts: forget-prompts.jsonl
                  forget_eval: forget-eval.jsonl
                  held_out: held-out.jsonl

                train:
                  seed: {seed}
                  max_steps: {s.Steps}
                  learning_rate: {s.LearningRate}
                  weight_decay: 0.1                 # the paper authors' AdamW: decay 0.1, beta2 0.95, cosine after a warm-up
                  adam_beta2: 0.95
                  lr_scheduler_type: cosine
                  warmup_steps: {Math.Max(1, s.Steps / 10)}
                  per_device_train_batch_size: {s.MicroBatchSize}
                  eval_steps: {(s.RunTogether && !CurveVariants.Contains(variant) ? 0 : Math.Max(1, s.Steps / 3))}
                  save_strategy: {(s.RunTogether ? "\"no\"" : "steps")}

                selfgen:
                  max_new_tokens: {s.SelfGenTokens}

                fisher:
                  records: {s.FisherRecords}

                forgetting:
                  forget_fraction: {s.ForgetFraction}
                  portion: {s.Portion}
                  {forgettingLines}

                eval:
                  max_new_tokens: {s.EvalNewTokens}
                  before: {(s.RunTogether && variant != "vanilla" ? "false" : "true")}

                """));
        }
    }

    public static string JobFile(string pairDirectory, string variant, string? tag = null) =>
        Path.Combine(pairDirectory, tag is null ? $"job-{variant}.yaml" : $"job-{variant}-{tag}.yaml");
}
