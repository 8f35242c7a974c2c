namespace Lwf.Core.Tests.Jobs;

/// <summary>Job files for tests, over the licence-text example data (examples/jobs/licenses).</summary>
internal static class JobFiles
{
    public static string ExampleData(string file) => Path.Combine(TestPaths.RepoRoot, "examples", "jobs", "licenses", file);

    public static string TinyModel => Path.Combine(TestPaths.RepoRoot, "examples", "models", "gpt2-tiny-bpe");

    /// <summary>A small complete LWF job; the arguments are YAML lines added to the top level or a section.</summary>
    public static string Write(string dir, string forgetting = "", string train = "", string top = "")
    {
        string path = Path.Combine(dir, "job.yaml");
        File.WriteAllText(path, $"""
            name: test-job
            model: {TinyModel}
            max_length: 48
            {top}
            data:
              learn_train: {ExampleData("learn-train.jsonl")}
              learn_eval: {ExampleData("learn-eval.jsonl")}
              forget_prompts: {ExampleData("forget-prompts.jsonl")}
              forget_eval: {ExampleData("forget-eval.jsonl")}
              held_out: {ExampleData("held-out.jsonl")}
            train:
              seed: 5
              max_steps: 8
              learning_rate: 3.0e-3
              lr_scheduler_type: cosine
              per_device_train_batch_size: 4
              warmup_steps: 2
              eval_steps: 4
            {train}
            selfgen:
              max_new_tokens: 6
            fisher:
              records: 16
            forgetting:
            {forgetting}
            eval:
              max_new_tokens: 4
            """);
        return path;
    }
}
