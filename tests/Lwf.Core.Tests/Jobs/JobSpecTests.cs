using Lwf.Core.Forgetting;
using Lwf.Core.Jobs;

namespace Lwf.Core.Tests.Jobs;

public sealed class JobSpecTests
{
    [Fact]
    public void A_job_file_loads_with_defaults_and_paths_relative_to_it()
    {
        var spec = JobSpec.Load(Path.Combine(TestPaths.RepoRoot, "examples", "jobs", "licenses", "job.yaml"));
        Assert.Equal("licenses-lwf", spec.Name);
        Assert.Equal(JobFiles.TinyModel, spec.Model);
        Assert.Equal(JobFiles.ExampleData("learn-train.jsonl"), spec.Data.LearnTrain);
        Assert.Equal(ForgettingScorer.Fisher, spec.Forgetting.Scorer);
        Assert.Equal(0.3, spec.Forgetting.Selection.Fraction);
        Assert.Equal(0.9, spec.Train.Beta1); // a default
        Assert.True(spec.SelfGen.Generation.Greedy);
    }

    [Fact]
    public void A_forgetting_section_that_names_only_a_scorer_gets_the_graceful_defaults()
    {
        var spec = JobSpec.Load(JobFiles.Write(TestPaths.NewTempDir(), forgetting: "  scorer: fisher"));
        var f = spec.Forgetting;
        Assert.True(f.Active);
        Assert.Equal(ForgettingArrangement.Interleave, f.Arrange);
        Assert.Equal(0.25, f.Portion);          // one forgetting record after every four learning records
        Assert.Equal(ForgettingLossKind.Npo, f.Loss.Kind);   // bounded: gradient ascent wrecked held-out perplexity
        Assert.Equal(0.1, f.Loss.Alpha);         // a relative weight inside one AdamW update
        Assert.Equal(0.5, f.Selection.Fraction);
        var stream = f.Stream(spec.Train);
        Assert.Equal(4, stream.Every);
        Assert.Equal(spec.Train.Steps * spec.Train.GlobalBatchSize / 4, stream.Total);
    }

    [Fact]
    public void Json_job_files_are_accepted()
    {
        string dir = TestPaths.NewTempDir();
        string path = Path.Combine(dir, "job.json");
        File.WriteAllText(path, $$"""
            {"model": "{{JobFiles.TinyModel}}", "data": {"learn_train": "{{JobFiles.ExampleData("learn-train.jsonl")}}"},
             "forgetting": {"arrange": "none"}, "train": {"max_steps": 3} }
            """);
        var spec = JobSpec.Load(path);
        Assert.Equal(3, spec.Train.Steps);
        Assert.False(spec.Forgetting.Active);
    }

    [Theory]
    [InlineData("forgetting", "portoin: 0.25", "unknown key 'forgetting.portoin' (did you mean 'portion'?)")]
    [InlineData("top", "colour: blue", "unknown key 'colour'")]
    [InlineData("train", "  gradient_accumulation_steps: ten", "'train.gradient_accumulation_steps' must be an integer, got 'ten'")]
    [InlineData("forgetting", "scorer: fisherr", "'forgetting.scorer' must be one of fisher, likelihood, random, inverse, got 'fisherr'")]
    [InlineData("forgetting", "forget_top_k: 3", "give exactly one of forget_fraction, forget_top_k and forget_threshold")]
    [InlineData("train", "  max_grad_norm: -1", "max gradient norm must be in [0, 1e6] (0: no clipping), got -1")]
    // Non-finite or absurd numbers: each would end "done" with a NaN model or no forgetting at all.
    [InlineData("train", "  weight_decay: Infinity", "'train.weight_decay' must be a finite number, got 'Infinity'")]
    [InlineData("train", "  adam_epsilon: .inf", "'train.adam_epsilon' must be a finite number, got '.inf'")]
    [InlineData("train", "  weight_decay: 1e300", "weight decay must be in [0, 10], got 1E+300")]
    [InlineData("forgetting", "alpha: 1e300", "alpha must be in [0, 10], got 1E+300")]
    [InlineData("forgetting", "portion: 1.5", "forgetting.portion must be in (0, 1] (forgetting records per learning record), got 1.5")]
    [InlineData("forgetting", "npo_beta: 0", "npo_beta must be in (0, 100], got 0")]
    // The knobs of the separate forgetting optimizer are refused with what replaced them.
    [InlineData("forgetting", "forget_every: 10", "'forgetting.forget_every' no longer exists: forgetting records ride in every learning step; set forgetting.portion")]
    [InlineData("forgetting", "learning_rate: 1.0e-4", "'forgetting.learning_rate' no longer exists: forgetting records go through the learning optimizer")]
    [InlineData("forgetting", "fisher_protect: 1.0", "'forgetting.fisher_protect' no longer exists")]
    [InlineData("forgetting", "schedule: periodic", "'forgetting.schedule' was renamed to 'forgetting.arrange")]
    [InlineData("forgetting", "forget_fraction: NaN", "'forgetting.forget_fraction' must be a finite number, got 'NaN'")]
    public void Bad_knobs_are_refused_with_file_line_and_key(string section, string line, string expected)
    {
        string dir = TestPaths.NewTempDir();
        string path = section switch
        {
            "forgetting" => JobFiles.Write(dir, forgetting: "  " + line + (line.StartsWith("forget_top_k") ? "\n  forget_fraction: 0.2" : "")),
            "train" => JobFiles.Write(dir, train: line),
            _ => JobFiles.Write(dir, top: line),
        };
        var error = Assert.Throws<LwfInputException>(() => JobSpec.Load(path));
        Assert.Contains(expected, error.Message);
        Assert.StartsWith(path, error.Message);
    }

    [Theory]
    [InlineData("learning_rate: 3.0e-3", "learning_rate: NaN", "'train.learning_rate' must be a finite number, got 'NaN'")]
    [InlineData("learning_rate: 3.0e-3", "learning_rate: 5", "learning rate must be in (0, 1], got 5")]
    [InlineData("max_new_tokens: 6", "max_new_tokens: -3", "max new tokens must be in 1..8192, got -3")]
    [InlineData("max_new_tokens: 6", "max_new_tokens: 6\n  top_p: NaN", "'selfgen.top_p' must be a finite number, got 'NaN'")]
    [InlineData("max_new_tokens: 6", "max_new_tokens: 6\n  temperature: 1e9", "temperature must be in (0, 100], got 1000000000")]
    [InlineData("max_new_tokens: 4", "max_new_tokens: 4\n  batch_size: 0", "eval.batch_size must be at least 1, got 0")]
    [InlineData("max_new_tokens: 4", "max_new_tokens: -1", "eval.max_new_tokens must be in 1..8192, got -1")]
    public void Knobs_the_template_sets_are_refused_out_of_range(string find, string replace, string expected)
    {
        string path = JobFiles.Write(TestPaths.NewTempDir());
        string text = File.ReadAllText(path);
        Assert.Contains(find, text);
        File.WriteAllText(path, text.Replace(find, replace));
        var error = Assert.Throws<LwfInputException>(() => JobSpec.Load(path));
        Assert.Contains(expected, error.Message);
        Assert.StartsWith(path, error.Message);
    }

    [Fact]
    public void A_missing_dataset_is_refused_with_its_key_and_line()
    {
        string dir = TestPaths.NewTempDir();
        string path = JobFiles.Write(dir);
        File.WriteAllText(path, File.ReadAllText(path).Replace(JobFiles.ExampleData("forget-eval.jsonl"), "nowhere/forget-eval.jsonl"));
        var error = Assert.Throws<LwfInputException>(() => JobSpec.Load(path));
        Assert.Matches(@"job\.yaml:\d+:\d+: 'data\.forget_eval': nowhere/forget-eval\.jsonl not found", error.Message);
    }

    [Fact]
    public void Forgetting_without_prompts_is_refused()
    {
        string dir = TestPaths.NewTempDir();
        string path = JobFiles.Write(dir);
        File.WriteAllText(path, string.Join('\n', File.ReadAllLines(path).Where(l => !l.Contains("forget_prompts"))));
        Assert.Contains("'data.forget_prompts' is missing", Assert.Throws<LwfInputException>(() => JobSpec.Load(path)).Message);
    }
}
